// The admin's button that unregisters a model, behind a confirmation: the Model Hub's Unregister and the Local view's Delete.
import { useState } from "react";
import type { HubItem } from "@generated";
import { errorText } from "../api/client";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { useUnregister } from "./useUnregister";

/** A card's action that asks, then unregisters ``item``; ``label`` names it on the button and the dialog. */
export function UnregisterAction({
  item,
  label,
}: {
  readonly item: Pick<HubItem, "id" | "name">;
  readonly label: "Unregister" | "Delete";
}) {
  const [confirming, setConfirming] = useState(false);
  const remove = useUnregister(item.id, () => setConfirming(false));
  return (
    <>
      <div className="card-actions">
        <button type="button" className="danger" onClick={() => setConfirming(true)}>
          {label}
        </button>
      </div>
      <ConfirmDialog
        open={confirming}
        title={`${label} ${item.name}?`}
        confirmLabel={label}
        busy={remove.isPending}
        error={remove.isError ? errorText(remove.error) : null}
        onConfirm={() => remove.mutate()}
        onCancel={() => {
          setConfirming(false);
          remove.reset();
        }}
      >
        <p>The model is unregistered and every node removes its files. You can register it again later.</p>
      </ConfirmDialog>
    </>
  );
}
