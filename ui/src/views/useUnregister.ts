// Unregister a model (DELETE /v0/models/{id}): shared by the Model Hub's Unregister and the Local view's Delete.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import type { HubItem } from "@generated";
import { deleteModel, queryKeys } from "../api/queries";
import { markUnregistered } from "../live/patches";

/** The delete mutation of one model; on success the hub shows it available and its detail is dropped. */
export function useUnregister(modelId: string, onDone: () => void) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => deleteModel(modelId),
    onSuccess: () => {
      onDone();
      queryClient.setQueryData<HubItem[]>(queryKeys.hub, (old) => (old ? markUnregistered(old, modelId) : old));
      queryClient.removeQueries({ queryKey: queryKeys.modelDetail(modelId) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.hub });
      void queryClient.invalidateQueries({ queryKey: queryKeys.orphaned });
    },
  });
}
