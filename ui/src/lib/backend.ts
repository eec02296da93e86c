// The one way the UI talks to the core: typed calls to the Tauri shell's commands.
import { invoke } from "@tauri-apps/api/core";
import type { BackendError, ConversationRow, Stats, ThreadMessage, WorkspaceInfo } from "./types";

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    const err = e as Partial<BackendError>;
    throw {
      code: err?.code ?? "internal",
      message: err?.message ?? String(e),
    } satisfies BackendError;
  }
}

export const backend = {
  workspace: () => call<WorkspaceInfo>("workspace_info"),
  stats: () => call<Stats>("stats"),
  conversations: (limit = 100, offset = 0) => call<ConversationRow[]>("list_conversations", { limit, offset }),
  thread: (contactId: number, before: number | null = null, limit = 100) =>
    call<ThreadMessage[]>("thread", { contactId, before, limit }),
};
