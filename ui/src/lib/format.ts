import type { Origin } from "./types";

export const originLabel: Record<Origin, string> = {
  customer: "Customer",
  phone: "Phone",
  api: "API",
  history: "History",
};

/** "14:05" today, "Mon" this week, "12 Oct" this year, else "12 Oct 2024". */
export function shortTime(unix: number | null, now: number): string {
  if (unix == null) return "";
  const d = new Date(unix * 1000);
  const n = new Date(now * 1000);
  const sameDay = d.toDateString() === n.toDateString();
  if (sameDay) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const days = (now - unix) / 86400;
  if (days < 6 && days >= 0) return d.toLocaleDateString([], { weekday: "short" });
  if (d.getFullYear() === n.getFullYear()) return d.toLocaleDateString([], { day: "numeric", month: "short" });
  return d.toLocaleDateString([], { day: "numeric", month: "short", year: "numeric" });
}

export function preview(text: string | null, type: string | null, revoked: boolean | null): string {
  if (revoked) return "This message was deleted";
  if (text) return text;
  switch (type) {
    case "image": return "Photo";
    case "video": return "Video";
    case "audio": return "Voice message";
    case "document": return "Document";
    case "sticker": return "Sticker";
    case "media_placeholder": return "A photo or file older than 14 days: the history import does not bring it over (it stays on the phone)";
    case "unknown": return "Sent through the API (content not in this mirror)";
    default: return type ?? "";
  }
}

export function initials(name: string): string {
  const letters = name.replace(/^[@+]/, "").split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0]);
  return letters.join("").toUpperCase() || "?";
}

/** A file's size for people: "820 KB", "3.4 MB" (binary units, as WhatsApp states its limits). */
export function fileSize(bytes: number): string {
  return bytes >= 1_048_576 ? `${(bytes / 1_048_576).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}
