// backstop dashboard: plain JS, no build step. Reads what the key's role may see (aggregates,
// paged lists, its own account) with the API key from the URL (#key=...) or the input box, and
// redraws every few seconds when "live" is on.
const $ = (id) => document.getElementById(id);
const keyBox = $("key");
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
keyBox.value = fromHash || localStorage.getItem("backstop-key") || "";
keyBox.addEventListener("change", () => { localStorage.setItem("backstop-key", keyBox.value); refresh(); });

async function api(path, opts = {}) {
  const headers = { "Authorization": "Bearer " + keyBox.value, "Content-Type": "application/json", ...(opts.headers || {}) };
  const r = await fetch(path, { ...opts, headers });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ? `${body.error.type}: ${body.error.message}` : r.statusText);
  return body;
}

const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const fmt = (bag) => typeof bag === "string" ? bag : Object.entries(bag || {}).map(([a, v]) => `${v} ${a}`).join(", ") || "0";
function rows(id, items) { $(id).querySelector("tbody").innerHTML = items.map((cells) => "<tr>" + cells.map((c) => `<td>${c}</td>`).join("") + "</tr>").join(""); }

function waterfallSvg(loss) {
  // One horizontal bar per layer, length proportional to what it paid of this loss.
  const parts = Object.entries(loss.allocation);
  const total = Number(loss.amount) || 1;
  const h = 22 * parts.length + 8;
  const bars = parts.map(([layer, v], i) => {
    const w = Math.max(1, 300 * Number(v) / total);
    const cls = layer === "socialize" || /rest|social/.test(layer) ? "bar-socialize" : "bar";
    return `<text x="0" y="${22 * i + 18}">${esc(layer)}</text><rect class="${cls}" data-layer="${esc(layer)}" x="110" y="${22 * i + 6}" width="${w}" height="16"></rect><text x="${116 + w}" y="${22 * i + 18}">${esc(v)}</text>`;
  }).join("");
  return `<svg class="waterfall" width="520" height="${h}" role="img" aria-label="waterfall of ${esc(loss.id)}">${bars}</svg>`;
}

function healthSvg(positions) {
  // Histogram of position health (buckets of 0.1 from 0.5 to 2.5+); red below 1.
  const buckets = new Array(21).fill(0);
  for (const p of Object.values(positions)) {
    if (p.health === null) continue;
    const i = Math.min(20, Math.max(0, Math.floor((Number(p.health) - 0.5) * 10)));
    buckets[i] += 1;
  }
  const max = Math.max(1, ...buckets);
  const bars = buckets.map((n, i) => `<rect class="${i < 5 ? "risky" : ""}" x="${i * 7}" y="${30 - 30 * n / max}" width="6" height="${30 * n / max}"></rect>`).join("");
  return `<span class="health"><svg width="150" height="30">${bars}</svg></span>`;
}

const SEES_ALL = new Set(["admin", "risk"]);
let me = null; // the key's /v1/whoami, read once per key

async function all(path, maxPages = 10) {
  // Every row of a paged list (docs/service.md, "Reads"), up to maxPages pages of 1,000.
  const out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api(path + sep + "limit=1000" + (cursor ? "&cursor=" + cursor : ""));
    out.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return out;
}

function showMine(a) {
  // The key's own account: wallet, deposits, positions and supplies, policies.
  $("mineacct").textContent = a.account;
  $("wallet").textContent = "wallet: " + fmt(a.wallet);
  rows("mylayers", Object.entries(a.layers).map(([id, l]) => [esc(id), esc(fmt(l.deposit)), esc(l.shares), esc(fmt(l.gains)), esc(l.queued_shares ?? "–")]));
  const markets = [...new Set([...Object.keys(a.positions), ...Object.keys(a.supplies)])].sort();
  rows("mypositions", markets.map((id) => { const p = a.positions[id] || {}; return [esc(id), esc(p.collateral ? fmt(p.collateral) : "–"), esc(p.debt ?? "–"), esc(p.health ?? "–"), esc(a.supplies[id] ?? "–")]; }));
  rows("mypolicies", a.policies.map((p) => [esc(p.id), esc(p.pool), esc(p.market), esc(p.causes.join(", ")), esc(p.amount), esc(p.end), esc(p.paid)]));
}

async function refresh() {
  if (!keyBox.value) { $("meta").textContent = "enter an API key"; return; }
  try {
    if (!me || me.token !== keyBox.value) me = { ...(await api("/v1/whoami")), token: keyBox.value };
    // Each role sees what it may read: everyone the aggregates and losses; admin and risk every
    // position, claim and the risk lab; an assessor every claim; an owner its own account and claims.
    const seesAll = SEES_ALL.has(me.role);
    const [health, layers, markets, losses, claims] = await Promise.all([
      api("/v1/health"), api("/v1/layers"), api("/v1/markets"), all("/v1/losses"), all("/v1/claims")]);
    $("meta").textContent = `${me.role}${me.account ? " · " + me.account : ""} · ${health.commands} commands`;
    rows("layers", Object.entries(layers).map(([id, l]) => [esc(id), esc(l.kind), esc(fmt(l.total_assets)), esc(l.exchange_rate ?? "–"), esc(l.total_shares ?? "–"), esc(l.queued_shares ?? "–")]));
    const positions = seesAll ? await Promise.all(Object.keys(markets).map((id) => all(`/v1/markets/${encodeURIComponent(id)}/positions`))) : [];
    rows("markets", Object.entries(markets).map(([id, m], i) => [esc(id), esc(m.kind), `${esc(m.total_debt)} ${esc(m.debt_asset)}`, esc(m.cash), esc(m.bad_debt), esc(m.socialized), seesAll ? healthSvg(positions[i]) + ` ${positions[i].length} positions` : "–"]));
    $("losses").innerHTML = losses.length ? losses.map((l) => `<div class="loss" data-loss="${esc(l.id)}"><b>${esc(l.id)}</b> ${esc(l.market)} · ${esc(l.cause)} · ${esc(l.amount)} ${esc(l.asset)}<br>${waterfallSvg(l)}</div>`).join("") : "no losses yet";
    $("claimstitle").textContent = seesAll || me.role === "assessor" ? "Claims" : "My claims";
    rows("claims", claims.map((c) => [esc(c.id), esc(c.policy), esc(c.claimant), esc(c.incident), esc(c.loss), esc(c.status), esc(c.paid), esc(c.assessor ?? "")]));
    $("mine").hidden = !me.account || seesAll;
    if (!$("mine").hidden) showMine(await api(`/v1/accounts/${encodeURIComponent(me.account)}`));
    $("simsec").hidden = !seesAll;
    $("error").textContent = "";
  } catch (e) { $("error").textContent = e.message; }
}

function simSummary(r) {
  // The headline numbers of the risk lab's summary (docs/risk-lab.md), then the report's figures below.
  const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");
  const head = [["P(bad debt)", pct(r.p_bad_debt.value) + " ± " + pct(r.p_bad_debt.se)],
    ["P(investors hit)", pct(r.p_socialized.value) + " ± " + pct(r.p_socialized.se)],
    ["mean loss", r.loss.mean + " " + r.loss_asset], ["VaR 99", r.loss.var99 + " " + r.loss_asset],
    ["CVaR 99", r.loss.cvar99 + " " + r.loss_asset]];
  const layers = Object.entries(r.by_layer).map(([id, l]) => `<tr><td>${esc(id)}</td><td>${esc(l.kind)}</td><td>${esc(l.mean)}</td><td>${pct(l.p_exhausted)}</td></tr>`).join("");
  return `<table class="simhead">${head.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>` +
    `<table id="simlayers"><thead><tr><th>layer</th><th>kind</th><th>mean paid</th><th>P(exhausted)</th></tr></thead><tbody>${layers}</tbody></table>`;
}

$("simrun").addEventListener("click", async () => {
  try {
    const job = await api("/v1/simulations", { method: "POST", body: JSON.stringify({ paths: 1000, horizon_days: 365 }), headers: { "Idempotency-Key": "dash-" + Date.now() } });
    const poll = async () => {
      const j = await api("/v1/simulations/" + job.id);
      if (j.status === "running" || j.status === "queued") {
        $("simout").textContent = `running ${Math.round(100 * j.progress)}%`;
        setTimeout(poll, 500);
      } else if (j.status === "done") {
        $("simout").innerHTML = simSummary(j.result);
        const res = await fetch("/v1/simulations/" + job.id + "/report", { headers: { Authorization: "Bearer " + keyBox.value } });
        const frame = $("simreport");
        frame.srcdoc = await res.text();
        frame.hidden = false;
      } else {
        $("simout").textContent = `${j.status}: ${j.error ?? ""}`;
      }
    };
    poll();
  } catch (e) { $("simout").textContent = e.message; }
});

refresh();
setInterval(() => { if ($("live").checked) refresh(); }, 3000);
