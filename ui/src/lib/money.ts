// Amounts arrive as exact decimal strings; they are shown, never computed with, here.
export function money(amount: string, currency: string): string {
  const [whole, frac = ""] = amount.split(".");
  // At least cents; Meta's sub-cent rates keep their digits.
  const shown = frac.length < 2 ? `${whole}.${frac.padEnd(2, "0")}` : `${whole}.${frac}`;
  return `${shown} ${currency}`;
}

export function monthRange(now: number): { from: number; to: number; label: string } {
  const d = new Date(now * 1000);
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) / 1000;
  const label = d.toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });
  return { from, to, label };
}
