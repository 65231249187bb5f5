// Human forms of what the API answers in exact, raw units (plain ES module, no dependencies).
// Amounts arrive as exact decimal strings ("34933.333333"); they are shown with thousands
// separators, at most `places` decimals, and their asset, with the exact value in the title.

export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

/** "1234567.891" -> "1,234,567.89" (string arithmetic: never through a float). */
export function num(value, places = 2) {
  if (value === null || value === undefined || value === "") return "–";
  let s = String(value);
  const neg = s.startsWith("-");
  if (neg) s = s.slice(1);
  let [int, frac = ""] = s.split(".");
  frac = frac.slice(0, places).replace(/0+$/, "");
  int = int.replace(/^0+(?=\d)/, "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const out = frac ? `${int}.${frac}` : int;
  return (neg && out.replace(/[0.,]/g, "") !== "" ? "−" : "") + out;
}

/** An amount with its asset: `34,933.33 USDC`; the exact figure in the tooltip. */
export function amount(value, asset, places = 2) {
  if (value === null || value === undefined) return "–";
  return `<span class="amt" title="${esc(value)} ${esc(asset ?? "")}">${num(value, places)}${asset ? " " + esc(asset) : ""}</span>`;
}

/** A bag {asset: amount} as "1,000 USDC, 2 ETH" ("0" when empty). */
export function bag(b) {
  const parts = Object.entries(b || {}).map(([a, v]) => amount(v, a));
  return parts.length ? parts.join(", ") : "0";
}

/** A duration in seconds as "10 days", "2 days 4 h", "3 h 20 min", "45 s". */
export function duration(seconds) {
  let s = Math.abs(Math.round(Number(seconds)));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const plural = (n, w) => `${n} ${w}${n === 1 ? "" : "s"}`;
  if (d) return plural(d, "day") + (h ? ` ${h} h` : "");
  if (h) return `${h} h` + (m ? ` ${m} min` : "");
  if (m) return `${m} min`;
  return `${s} s`;
}

const EPOCH_2000 = 946684800;

/** A time: unix seconds as a UTC date and time; the engine's own clock (a scenario's t, which
 * starts at 0) as "day 40, 06:00". */
export function when(t) {
  if (t === null || t === undefined) return "–";
  const n = Number(t);
  if (n >= EPOCH_2000) return new Date(n * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  const day = Math.floor(n / 86400);
  const rest = n - day * 86400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, "0");
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, "0");
  return `day ${day}` + (rest ? `, ${hh}:${mm}` : "");
}

/** "in 10 days" / "2 days ago" from `now` to `t` (both on the same clock). */
export function relative(t, now) {
  const d = Number(t) - Number(now);
  if (d === 0) return "now";
  return d > 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
}

/** A probability as a percentage: 0.0123 -> "1.23%". */
export const pct = (x, places = 2) => (x === null || x === undefined ? "–" : (100 * Number(x)).toFixed(places) + "%");
