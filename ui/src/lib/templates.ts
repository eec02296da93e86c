// Reading a template's body: its text and the placeholders the sender must fill.
import type { TemplateInfo } from "./types";

export function templateBody(t: TemplateInfo): string {
  const parts = Array.isArray(t.components) ? (t.components as { type?: string; text?: string }[]) : [];
  return parts.find((c) => (c.type ?? "").toUpperCase() === "BODY")?.text ?? "";
}

/** The picture, video or document a template shows at its top (Meta refuses a send without it). */
export function headerMedia(t: TemplateInfo): "image" | "video" | "document" | null {
  const parts = Array.isArray(t.components) ? (t.components as { type?: string; format?: string }[]) : [];
  const format = parts.find((c) => (c.type ?? "").toUpperCase() === "HEADER")?.format?.toUpperCase();
  return format === "IMAGE" ? "image" : format === "VIDEO" ? "video" : format === "DOCUMENT" ? "document" : null;
}

/** `{{1}}`, `{{2}}` or `{{first_name}}`, in order of first appearance. */
export function placeholders(t: TemplateInfo): string[] {
  const seen: string[] = [];
  for (const m of templateBody(t).matchAll(/\{\{\s*([\w]+)\s*\}\}/g)) {
    if (!seen.includes(m[1])) seen.push(m[1]);
  }
  return seen;
}

/** The body with the given values filled in (empty ones stay visible as {{n}}). */
export function fill(t: TemplateInfo, values: Record<string, string>): string {
  return templateBody(t).replace(/\{\{\s*([\w]+)\s*\}\}/g, (all, k: string) => values[k]?.trim() || all);
}

export const categoryLabel: Record<string, string> = {
  MARKETING: "Marketing",
  UTILITY: "Utility",
  AUTHENTICATION: "Authentication",
};
