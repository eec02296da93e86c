// Shapes the shell sends; they mirror coexist-core's serde types (store::queries).

export type Origin = "customer" | "phone" | "api" | "history";

export interface ConversationRow {
  contact_id: number;
  display_name: string;
  wa_id: string | null;
  bsuid: string | null;
  vip: boolean;
  unread: number;
  last_message_at: number | null;
  last_text: string | null;
  last_type: string | null;
  last_origin: Origin | null;
  last_direction: "inbound" | "outbound" | null;
  last_revoked: boolean | null;
  service_window_open_until: number | null;
  automation_paused_until: number | null;
}

export interface Stats {
  contacts: { active: number; removed: number };
  messages: { customer: number; phone: number; api: number; history: number };
  journal: { received: number; applied: number; failed: number; skipped: number; pending: number };
  history: { state: "none" | "in_progress" | "complete" | "declined"; progress: number };
  link: "connected" | "dropped" | "offboarded";
  consent: { opted_out: number };
  reminders_open: number;
}

export interface WorkspaceInfo {
  label: string;
  demo: boolean;
  data_dir: string;
  now: number;
}

/** Errors come from the shell as `{code, message}`; `message` is written for a person. */
export interface BackendError {
  code: string;
  message: string;
}

export interface ThreadMessage {
  id: number;
  wamid: string;
  direction: "inbound" | "outbound";
  origin: Origin;
  type: string;
  text: string | null;
  media_id: string | null;
  media_mime: string | null;
  media_available: boolean;
  timestamp: number;
  status: "sent" | "delivered" | "read" | "played" | "failed" | null;
  edited: boolean;
  revoked: boolean;
  content_known: boolean;
  error: string | null;
}
