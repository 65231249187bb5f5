// backstop dashboard: plain ES modules, no build step, no dependencies. The user pastes an API
// key; the page asks `GET /v1/me` who it is and shows that role's desk, where every action is
// one call of the HTTP API (docs/service.md). Refusals show the API's own error message beside
// the form that caused them.
import { amount, bag, duration, esc, num, pct, relative, when } from "./fmt.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "backstop-key";
let token = new URLSearchParams(location.hash.slice(1)).get("key") || localStorage.getItem(KEY_STORE) || "";
let me = null;      // GET /v1/me of the key
let book = null;    // the public aggregates: layers, markets, losses

// -- the API -----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.type}: ${e.message}` : `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + token, "Content-Type": "application/json", ...(opts.headers || {}) };
  const r = await fetch(path, { ...opts, headers });
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

let idem = 0;
const post = (path, body, method = "POST") => api(path, {
  method, body: JSON.stringify(body), headers: { "Idempotency-Key": `dash-${Date.now()}-${++idem}-${Math.random().toString(36).slice(2, 8)}` },
});

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

// -- small helpers -----------------------------------------------------------------------------
function say(id, text, ok = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("ok", ok);
  el.classList.toggle("bad", !ok && !!text);
}

function rows(id, items, empty = "none yet") {
  const cols = $(id).querySelectorAll("thead th").length;
  $(id).querySelector("tbody").innerHTML = items.length
    ? items.map((cells) => "<tr>" + cells.map((c) => `<td>${c}</td>`).join("") + "</tr>").join("")
    : `<tr class="empty"><td colspan="${cols}">${esc(empty)}</td></tr>`;
}

function options(id, values, label = (v) => v) {
  // Refill a <select>, keeping what was chosen if it is still there.
  const sel = $(id);
  const was = sel.value;
  sel.innerHTML = values.map((v) => `<option value="${esc(v)}">${esc(label(v))}</option>`).join("");
  if (values.includes(was)) sel.value = was;
}

/** Bind a form's submit to `fn(form data)`; the outcome goes to message element `msg`. */
function action(formId, msg, fn) {
  $(formId).addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const button = ev.submitter || form.querySelector("button");
    button.disabled = true;
    say(msg, "working…", true);
    try {
      const done = await fn(new FormData(form), form);
      say(msg, done || "done", true);
      await refresh();
    } catch (e) { say(msg, e.message); }
    finally { button.disabled = false; }
  });
}

const layerAsset = (id) => { const l = book.layers[id]; return l ? Object.keys(l.total_assets)[0] : ""; };

// -- the book: every role ----------------------------------------------------------------------
function waterfallSvg(loss) {
  const unit = " " + loss.asset;
  // One horizontal bar per layer, length proportional to what it paid of this loss.
  const parts = Object.entries(loss.allocation);
  const total = Number(loss.amount) || 1;
  const h = 22 * parts.length + 8;
  const bars = parts.map(([layer, v], i) => {
    const w = Math.max(1, 220 * Number(v) / total);
    const cls = book.layers[layer]?.can.end ? "bar-socialize" : "bar";
    return `<text x="0" y="${22 * i + 18}">${esc(layer)}</text><rect class="${cls}" data-layer="${esc(layer)}" x="90" y="${22 * i + 6}" width="${w}" height="16"></rect><text x="${96 + w}" y="${22 * i + 18}">${esc(num(v) + unit)}</text>`;
  }).join("");
  return `<svg class="waterfall" viewBox="0 0 430 ${h}" width="430" height="${h}" role="img" aria-label="waterfall of ${esc(loss.id)}">${bars}</svg>`;
}

function healthSvg(positions) {
  // Histogram of position health (buckets of 0.1 from 0.5 to 2.5+); red below 1.
  const buckets = new Array(21).fill(0);
  for (const p of positions) {
    if (p.health === null) continue;
    buckets[Math.min(20, Math.max(0, Math.floor((Number(p.health) - 0.5) * 10)))] += 1;
  }
  const max = Math.max(1, ...buckets);
  const bars = buckets.map((n, i) => `<rect class="${i < 5 ? "risky" : ""}" x="${i * 7}" y="${30 - 30 * n / max}" width="6" height="${30 * n / max}"></rect>`).join("");
  return `<span class="health"><svg width="150" height="30">${bars}</svg></span>`;
}

async function showBook() {
  const seesAll = me.role === "admin" || me.role === "risk";
  rows("layers", Object.entries(book.layers).map(([id, l]) => {
    const asset = Object.keys(l.total_assets)[0];
    const queued = l.queued_shares && l.exchange_rate && l.total_shares !== "0"
      ? amount(queuedValue(l), asset) : "–";
    return [esc(id), esc(l.kind.replace(/_/g, " ")), bag(l.total_assets), l.exchange_rate ? `${num(l.exchange_rate, 6)} ${esc(asset)}` : "–", queued];
  }));
  const positions = seesAll ? await Promise.all(Object.keys(book.markets).map((id) => all(`/v1/markets/${encodeURIComponent(id)}/positions`))) : [];
  rows("markets", Object.entries(book.markets).map(([id, m], i) => [esc(id), esc(m.kind), amount(m.total_debt, m.debt_asset), amount(m.cash, m.debt_asset), amount(m.bad_debt, m.debt_asset), amount(m.socialized, m.debt_asset),
    seesAll ? healthSvg(positions[i]) + ` ${num(positions[i].length)} position${positions[i].length === 1 ? "" : "s"}` : "–"]));
  $("losses").innerHTML = book.losses.length ? book.losses.map((l) => `<div class="loss" data-loss="${esc(l.id)}"><b>${esc(l.id)}</b> ${esc(l.market)} · ${esc(l.cause.replace(/_/g, " "))} · ${amount(l.amount, l.asset)} · ${esc(when(l.at))}<br>${waterfallSvg(l)}</div>`).join("") : "no losses yet";
}

function queuedValue(l) {
  // Queued shares at the layer's share price (the exchange rate is 1e-6 exact, display only).
  const v = Number(l.queued_shares) / Number(l.total_shares) * Number(Object.values(l.total_assets)[0]);
  return v.toFixed(2);
}

// -- staker ------------------------------------------------------------------------------------
function showStaker() {
  const stakes = Object.entries(me.stakes);
  $("stakes").innerHTML = stakes.length ? stakes.map(([id, s]) => {
    const req = s.request;
    let status = "no withdrawal requested";
    let canWithdraw = !s.can.request_withdraw;
    if (req) {
      const opens = relative(req.ready_at, me.now);
      if (me.now < req.ready_at) status = `cooldown: withdrawal of ${amount(req.value, s.asset)} opens ${esc(opens)} (${esc(when(req.ready_at))})`;
      else if (req.expires_at === null || me.now <= req.expires_at) {
        status = `withdrawal of ${amount(req.value, s.asset)} is open` + (req.expires_at === null ? "" : `; the window closes ${esc(relative(req.expires_at, me.now))} (${esc(when(req.expires_at))})`);
        canWithdraw = true;
      } else status = `the unstake window closed ${esc(relative(req.expires_at, me.now))}; request again`;
    }
    const rules = s.mode === "cooldown" && s.cooldown_seconds
      ? `cooldown ${esc(duration(s.cooldown_seconds))}, then ${esc(duration(s.unstake_window_seconds))} to withdraw`
      : s.mode === "queue" ? `queue of ${esc(duration(s.cooldown_seconds))}` : "";
    return `<div class="card" data-stake="${esc(id)}">
      <h3>${esc(id)} <small>${esc(s.kind.replace(/_/g, " "))}</small></h3>
      <div class="big">${amount(s.value, s.asset)}</div>
      <dl>
        <dt>share value</dt><dd>${s.exchange_rate ? `${num(s.exchange_rate, 6)} ${esc(s.asset)}` : "–"}</dd>
        <dt>deposited</dt><dd>${amount(s.deposited, s.asset)}</dd>
        <dt>withdrawn</dt><dd>${amount(s.withdrawn, s.asset)}</dd>
        ${s.gains_value ? `<dt>collateral gains</dt><dd>${amount(s.gains_value, s.asset)}</dd>` : ""}
        <dt>P&amp;L</dt><dd class="${String(s.pnl).startsWith("-") ? "neg" : "pos"}">${amount(s.pnl, s.asset)}</dd>
        <dt>APR</dt><dd>${esc(s.apr ?? "– (held under a day)")}</dd>
        ${rules ? `<dt>rules</dt><dd>${rules}</dd>` : ""}
      </dl>
      <p class="status">${status}</p>
      <div class="row">
        ${req ? `<button type="button" data-act="cancel" data-layer="${esc(id)}">cancel request</button>` : ""}
        <button type="button" data-act="withdraw" data-layer="${esc(id)}"${canWithdraw || !req ? "" : ' class="muted"'}>withdraw</button>
      </div>
    </div>`;
  }).join("") : `<p class="hint">No stake yet: stake below.</p>`;
  $("staker-wallet").innerHTML = "wallet: " + bag(account.wallet);
  options("stake-layer", Object.keys(book.layers).filter((id) => book.layers[id].can.stake), (id) => `${id} (${layerAsset(id)})`);
  options("reqw-layer", stakes.filter(([, s]) => s.can.request_withdraw).map(([id]) => id), (id) => `${id} (${layerAsset(id)})`);
}

function bindStaker() {
  action("stake-form", "staker-msg", async (fd) => {
    const layer = fd.get("layer");
    await post("/v1/deposit", { layer, account: me.account, amount: fd.get("amount").trim() });
    return `staked ${fd.get("amount")} ${layerAsset(layer)} in ${layer}`;
  });
  action("reqw-form", "staker-msg", async (fd) => {
    const layer = fd.get("layer");
    const body = { layer, account: me.account };
    const amt = fd.get("amount").trim();
    if (amt) body.amount = amt; else body.shares = me.stakes[layer]?.shares;
    const r = await post("/v1/request_withdraw", body);
    const ev = r.events.find((e) => e.kind === "withdraw_requested");
    return ev ? `withdrawal requested; it opens ${when(Number(ev.data.ready_at))}` : "withdrawal requested";
  });
  $("stakes").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-act]");
    if (!b) return;
    b.disabled = true;
    try {
      const layer = b.dataset.layer;
      if (b.dataset.act === "cancel") {
        await post("/v1/cancel_withdraw", { layer, account: me.account });
        say("staker-msg", `withdrawal request on ${layer} cancelled`, true);
      } else {
        const before = me.stakes[layer];
        await post("/v1/withdraw", { layer, account: me.account });
        const pending = before && before.request ? before.request.value : before && before.value;
        say("staker-msg", `withdrew ${pending ? num(pending) + " " + before.asset + " " : ""}from ${layer}`, true);
      }
      await refresh();
    } catch (e) { say("staker-msg", e.message); }
    finally { b.disabled = false; }
  });
}

// -- investor ----------------------------------------------------------------------------------
let account = null; // GET /v1/accounts/{me}
let quote = null;   // the last POST /v1/quotes answer

function coverBody(fd) {
  return {
    pool: fd.get("pool"), market: fd.get("market"), amount: fd.get("amount").trim(),
    period_days: Number(fd.get("period_days")), causes: fd.getAll("causes"),
  };
}

function showInvestor() {
  const a = account;
  const ids = [...new Set([...Object.keys(a.positions), ...Object.keys(a.supplies)])].sort();
  rows("inv-positions", ids.map((id) => {
    const p = a.positions[id] || {};
    const asset = book.markets[id]?.debt_asset;
    return [esc(id), a.supplies[id] ? amount(a.supplies[id], asset) : "–", p.collateral ? bag(p.collateral) : "–", p.debt ? amount(p.debt, asset) : "–", esc(p.health ?? "–")];
  }), "no supplies or positions");
  $("wallet").innerHTML = "wallet: " + bag(a.wallet);
  rows("inv-policies", a.policies.map((p) => [esc(p.id), esc(p.pool), esc(p.market), esc(p.causes.join(", ")), amount(p.amount, layerAsset(p.pool)), esc(when(p.start)), esc(when(p.end)) + (p.end > me.now ? ` <small>(${esc(relative(p.end, me.now))})</small>` : " <small>(ended)</small>"), amount(p.premium, layerAsset(p.pool)), amount(p.paid, layerAsset(p.pool))]), "no policies yet");
  rows("inv-claims", a.claims.map((c) => [esc(c.id), esc(c.policy), esc(c.incident), amount(c.loss, layerAsset(a.policies.find((p) => p.id === c.policy)?.pool)), `<span class="st st-${esc(c.status)}">${esc(c.status)}</span>`, amount(c.paid, layerAsset(a.policies.find((p) => p.id === c.policy)?.pool)), esc(c.reason || "")]), "no claims yet");
  options("quote-pool", Object.keys(book.layers).filter((id) => book.layers[id].can.sell_cover));
  options("quote-market", Object.keys(book.markets));
  options("claim-policy", a.policies.map((p) => p.id), (id) => { const p = a.policies.find((x) => x.id === id); return `${id} · ${p.market} · ${p.causes.join("/")}`; });
  const incidents = book.losses.filter((l) => l.incident);
  options("claim-incident", incidents.map((l) => l.incident), (id) => { const l = incidents.find((x) => x.incident === id); return `${id} · ${l.market} · ${l.cause} · ${num(l.amount)} ${l.asset} · ${when(l.at)}`; });
}

function showQuote(q) {
  const asset = layerAsset(q.pool);
  $("quote-out").innerHTML = `<div class="card quote" data-quote="${esc(q.id)}">
    <h3>quote ${esc(q.id)}</h3>
    <div class="big">${amount(q.premium, asset)}</div>
    <dl>
      <dt>95% interval</dt><dd>${amount(q.premium_low, asset)} – ${amount(q.premium_high, asset)}</dd>
      <dt>expected payout</dt><dd>${amount(q.expected_payout, asset)}</dd>
      <dt>loading</dt><dd>${esc(num(q.loading_bps / 100))}%</dd>
      <dt>cover</dt><dd>${amount(q.amount, asset)} on ${esc(q.market)} for ${esc(q.period_days)} days (${esc(q.causes.join(", "))})</dd>
      <dt>priced on</dt><dd>${esc(num(q.paths, 0))} paths, seed ${esc(q.seed)}, state ${esc(String(q.state_hash).slice(0, 10))}…</dd>
      <dt>valid until</dt><dd>${esc(when(q.valid_until))} (state may move ${esc(num(q.tolerance_bps / 100))}%)</dd>
    </dl>
    <button type="button" id="buy-quoted">buy at this quote</button>
  </div>`;
  $("buy-quoted").addEventListener("click", () => buy({ pool: q.pool, market: q.market, amount: q.amount, period_days: q.period_days, causes: q.causes, quote: q.id }));
}

async function buy(body) {
  say("cover-msg", "working…", true);
  try {
    const r = await post("/v1/buy_cover", { ...body, account: me.account });
    const ev = r.events.find((e) => e.kind === "cover_bought");
    const id = ev ? ev.data.id : null;
    say("cover-msg", `cover bought${id ? ": " + id : ""}`, true);
    $("quote-out").innerHTML = "";
    await refresh();
  } catch (e) { say("cover-msg", e.message); }
}

function bindInvestor() {
  action("quote-form", "cover-msg", async (fd) => {
    try {
      quote = await post("/v1/quotes", coverBody(fd));
    } catch (e) {
      if (e.status === 404 || e.status === 405) throw new Error(`quotes are not offered by this server (HTTP ${e.status}); buy without a quote`);
      throw e;
    }
    showQuote(quote);
    return `quoted: premium ${num(quote.premium)} ${layerAsset(quote.pool)}`;
  });
  $("buy-direct").addEventListener("click", () => {
    const form = $("quote-form");
    if (!form.reportValidity()) return;
    buy(coverBody(new FormData(form)));
  });
  action("claim-form", "claim-msg", async (fd) => {
    const r = await post("/v1/file_claim", { policy: fd.get("policy"), incident: fd.get("incident"), loss: fd.get("loss").trim() });
    const ev = r.events.find((e) => e.kind === "claim_filed");
    return `claim filed${ev ? ": " + ev.data.id : ""}`;
  });
}

// -- guarantor ---------------------------------------------------------------------------------
function showGuarantor() {
  const g = Object.entries(me.guarantees);
  rows("g-layers", g.map(([id, l]) => {
    const fair = me.fair_premiums[id];
    const fairCell = fair
      ? `${amount(fair.expected_loss_per_year, fair.loss_asset)} <small>± ${esc(num(fair.se))} (${esc(num(fair.paths, 0))} paths, ${esc(when(fair.at))})</small>`
      : `<span class="hint">no live simulation yet</span>`;
    return [esc(id), amount(l.attachment, l.asset), amount(l.limit, l.asset) + (l.aggregate_limit ? ` <small>(${amount(l.aggregate_limit, l.asset)} a year)</small>` : ""),
      amount(l.used_this_year, l.asset) + (l.limit_left ? ` <small>(${amount(l.limit_left, l.asset)} left)</small>` : ""),
      `${amount(l.premium_per_year, l.asset)} <small>(${esc(num(l.premium_bps_per_year / 100))}% of the limit)</small>`, fairCell,
      amount(l.premiums_earned, l.asset), amount(l.losses_paid, l.asset),
      `${amount(l.collateral, l.asset)} <small>of ${amount(l.collateral_posted, l.asset)} posted</small>` + (l.defaulted ? ' <span class="st st-denied">defaulted</span>' : "") + (l.lapsed ? ' <span class="st">lapsed</span>' : "")];
  }), "this account writes no guarantor layer");
  $("g-note").textContent = "The fair premium is the risk lab's expected loss per year of the layer on the newest live simulation (no loading); the premium charged is the layer's rate times its limit.";
}

// -- assessor ----------------------------------------------------------------------------------
let claims = [];
const policyPool = {}; // policy id -> its cover pool (a policy's pool never changes)

async function loadClaims() {
  claims = await all("/v1/claims");
  const unknown = [...new Set(claims.map((c) => c.policy))].filter((id) => !(id in policyPool));
  const found = await Promise.all(unknown.map((id) => api(`/v1/policies/${encodeURIComponent(id)}`).catch(() => null)));
  found.forEach((p, i) => { policyPool[unknown[i]] = p ? p.pool : null; });
}

function showAssessor() {
  const asset = (c) => layerAsset(policyPool[c.policy]) || "";
  const pending = claims.filter((c) => c.status === "pending");
  rows("pending", pending.map((c) => [esc(c.id), esc(c.policy), esc(c.claimant), esc(c.incident), amount(c.loss, asset(c)),
    c.poll_end !== undefined
      ? `${amount(c.accepted, asset(c))} for · ${amount(c.denied, asset(c))} against<br><small>poll ends ${esc(when(c.poll_end))} (${esc(relative(c.poll_end, me.now))})${c.votes.some((v) => v.assessor === me.account) ? " · you voted" : ""}</small>`
      : "single assessor",
    `<form class="assess row" data-claim="${esc(c.id)}"><input name="reason" placeholder="reason" maxlength="500" aria-label="reason for ${esc(c.id)}">
      <button type="submit" name="v" value="approve">approve</button><button type="submit" name="v" value="deny">deny</button></form>`]), "no pending claims");
  rows("decided", claims.filter((c) => c.status !== "pending").map((c) => [esc(c.id), esc(c.claimant), esc(c.incident), amount(c.loss, asset(c)), `<span class="st st-${esc(c.status)}">${esc(c.status)}</span>`, amount(c.paid, asset(c)), esc(c.assessor ?? ""), esc(c.reason || "")]), "no decided claims");
}

function bindAssessor() {
  $("pending").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const approve = ev.submitter && ev.submitter.value === "approve";
    const id = form.dataset.claim;
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await post("/v1/assess_claim", { claim: id, approve, reason: form.reason.value.trim() });
      const voted = claims.find((c) => c.id === id)?.poll_end !== undefined;
      say("assess-msg", voted ? `voted to ${approve ? "approve" : "deny"} ${id}` : `${id} ${approve ? "approved" : "denied"}`, true);
      await refresh();
    } catch (e) {
      say("assess-msg", e.message);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });
}

// -- risk and admin ----------------------------------------------------------------------------
let history = { points: [] };
let alerts = { rules: [], fired: [] };

function simSummary(r) {
  const head = [["P(bad debt)", pct(r.p_bad_debt.value) + " ± " + pct(r.p_bad_debt.se)],
    ["P(investors hit)", pct(r.p_socialized.value) + " ± " + pct(r.p_socialized.se)],
    ["mean loss", amount(r.loss.mean, r.loss_asset)], ["VaR 99", amount(r.loss.var99, r.loss_asset)],
    ["CVaR 99", amount(r.loss.cvar99, r.loss_asset)]];
  const layers = Object.entries(r.by_layer).map(([id, l]) => `<tr><td>${esc(id)}</td><td>${esc(l.kind.replace(/_/g, " "))}</td><td>${amount(l.mean, r.loss_asset)}</td><td>${pct(l.p_exhausted)}</td></tr>`).join("");
  return `<table class="simhead">${head.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>` +
    `<div class="scroll"><table id="simlayers"><thead><tr><th>layer</th><th>kind</th><th>mean paid</th><th>P(exhausted)</th></tr></thead><tbody>${layers}</tbody></table></div>`;
}

// -- size a layer (POST /v1/sizings) -------------------------------------------------------------
let sizable = [];   // GET /v1/sizings/layers: the live layers whose kind has a size

/** A whole number of units (a float from the risk lab) as an exact decimal string for `num`. */
const whole = (x) => (Number.isFinite(x) ? BigInt(Math.round(x)).toString() : null);
const compact = (x) => new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 }).format(x);

function curveSvg(r, width) {
  // P(socialized) against the layer's size on the same paths: a step line, the target as a
  // dashed line, the current and the required size as vertical marks.
  const W = Math.max(300, Math.min(800, Math.round(width || 600))), H = 200, L = 48, B = 24, T = 12, R = 12;
  const pts = r.curve;
  const xmax = Math.max(1, ...pts.map((c) => c.size));
  const top = Math.min(1, Math.max(0.01, r.target_p, ...pts.map((c) => c.p)) * 1.15);
  const x = (v) => L + (W - L - R) * Math.min(1, v / xmax);
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const grid = [0, 0.5, 1].map((f) => `<line class="grid" x1="${L}" x2="${W - R}" y1="${y(f * top)}" y2="${y(f * top)}"></line><text class="axis" x="${L - 4}" y="${y(f * top) + 4}" text-anchor="end">${pct(f * top, 1)}</text>`).join("");
  const xt = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text class="axis" x="${x(f * xmax)}" y="${H - 6}" text-anchor="middle">${esc(compact(f * xmax))}</text>`).join("");
  const line = `<polyline class="s1" data-series="p_socialized" points="${pts.map((c) => `${x(c.size)},${y(c.p)}`).join(" ")}"></polyline>` + pts.map((c) => `<circle class="s1" cx="${x(c.size)}" cy="${y(c.p)}" r="2.5"></circle>`).join("");
  const target = `<line class="alert-line" x1="${L}" x2="${W - R}" y1="${y(r.target_p)}" y2="${y(r.target_p)}"></line><text class="alert-label" x="${W - R - 2}" y="${y(r.target_p) - 3}" text-anchor="end">target ${pct(r.target_p)}</text>`;
  // "now" is labelled low and to the left of its mark, "needed" high and to the right: apart even when close
  const mark = (v, cls, label, low) => (v === null || !Number.isFinite(Number(v))) ? "" : `<line class="${cls}" x1="${x(Number(v))}" x2="${x(Number(v))}" y1="${T}" y2="${H - B}"></line><text class="axis ${cls}" x="${x(Number(v)) + (low ? -3 : 3)}" y="${low ? H - B - 4 : T + 10}" text-anchor="${low ? "end" : "start"}">${esc(label)}</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="sizing curve of ${esc(r.layer)}">${grid}${target}${mark(r.current_size, "now-mark", "now", true)}${mark(r.size, "need-mark", "needed", false)}${line}${xt}</svg>` +
    `<div class="legend"><span class="key s1">P(socialized) at that size of ${esc(r.layer)} (${esc(r.asset)})</span><span class="key alert">target</span></div>`;
}

function sizingSummary(r) {
  const a = r.asset;
  const head = r.reached
    ? `<p class="big" id="size-answer">${esc(r.layer)} needs ${amount(r.size, a, 0)} <small>(now ${amount(r.current_size, a)})</small></p>`
    : `<p class="big" id="size-answer">no size of ${esc(r.layer)} brings P(socialized) to ${pct(r.target_p)} <small>(now ${amount(r.current_size, a)})</small></p>`;
  const delta = r.reached ? Number(r.size) - Number(r.current_size) : null;
  const facts = [
    ["what is sized", `${esc(r.kind.replace(/_/g, " "))}: ${esc(r.size_meaning)}`],
    ["target", `P(socialized) ≤ ${pct(r.target_p)}`],
    ...(r.reached ? [
      ["change", delta === 0 ? "none" : `${delta > 0 ? "add" : "could release"} ${amount(whole(Math.abs(delta)), a, 0)}`],
      ["95% Monte Carlo range", `${amount(r.size_ci[0], a, 0)} – ${r.size_ci[1] === null ? "∞" : amount(r.size_ci[1], a, 0)}`],
      ["P(socialized) there", `${pct(r.p_at_size.value)} ± ${pct(r.p_at_size.se)}`],
    ] : [["P(socialized) now", `${pct(r.p_at_size.value)} ± ${pct(r.p_at_size.se)}`]]),
    ["run", `${num(String(r.paths), 0)} paths · seed ${esc(r.seed)} · ${esc(r.evaluations)} sizes tried · state <code>${esc(String(r.state_hash).slice(0, 10))}</code>`],
  ];
  const table = `<table class="simhead" id="size-facts">${facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>`;
  const points = r.curve.map((c) => `<tr><td>${amount(whole(c.size), a, 0)}</td><td>${pct(c.p)}</td></tr>`).join("");
  return head + table + `<div class="chart" id="size-curve">${curveSvg(r, $("sizeout").clientWidth)}</div>` +
    `<details><summary>the curve, point by point</summary><div class="scroll"><table id="size-points"><thead><tr><th>size</th><th>P(socialized)</th></tr></thead><tbody>${points}</tbody></table></div></details>`;
}

function showSizable() {
  const ids = sizable.filter((l) => l.size_meaning !== null).map((l) => l.id);
  const byId = Object.fromEntries(sizable.map((l) => [l.id, l]));
  options("size-layer", ids, (id) => `${id} · ${byId[id].kind.replace(/_/g, " ")} (${byId[id].size_meaning})`);
}

function historySvg(points, rules, width) {
  // P(bad debt) and P(investors hit) per live simulation, oldest left; a dashed line per alert
  // rule on a probability metric, at its threshold. Drawn at the box's own width, so that its
  // text keeps its size on a phone.
  const W = Math.max(300, Math.min(1000, Math.round(width || 640))), H = 220, L = 48, B = 24, T = 10;
  const probRules = rules.filter((r) => r.metric === "p_bad_debt" || r.metric === "p_socialized" || r.metric.startsWith("p_exhausted:"));
  const series = [["p_bad_debt", "P(bad debt)", (p) => p.p_bad_debt.value], ["p_socialized", "P(investors hit)", (p) => p.p_socialized.value]];
  for (const r of probRules) if (r.metric.startsWith("p_exhausted:")) { const lid = r.metric.split(":")[1]; series.push([r.metric, `P(${lid} exhausted)`, (p) => p.layers[lid]?.p_exhausted ?? null]); }
  const ys = [...points.flatMap((p) => series.map(([, , f]) => f(p))), ...probRules.map((r) => r.above)].filter((v) => v !== null);
  const top = Math.min(1, Math.max(0.01, ...ys) * 1.15);
  const x = (i) => L + (points.length < 2 ? (W - L - 10) / 2 : i * (W - L - 10) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => `<line class="grid" x1="${L}" x2="${W - 10}" y1="${y(f * top)}" y2="${y(f * top)}"></line><text class="axis" x="${L - 4}" y="${y(f * top) + 4}" text-anchor="end">${pct(f * top, 1)}</text>`).join("");
  const lines = series.map(([key, , f], k) => {
    const pts = points.map((p, i) => [x(i), f(p)]).filter(([, v]) => v !== null).map(([xx, v]) => [xx, y(v)]);
    return `<polyline class="s${k}" data-series="${esc(key)}" points="${pts.map((p) => p.join(",")).join(" ")}"></polyline>` + pts.map(([xx, yy]) => `<circle class="s${k}" cx="${xx}" cy="${yy}" r="3"></circle>`).join("");
  }).join("");
  const alertLines = probRules.map((r) => `<line class="alert-line" data-metric="${esc(r.metric)}" x1="${L}" x2="${W - 10}" y1="${y(r.above)}" y2="${y(r.above)}"></line><text class="alert-label" x="${W - 12}" y="${y(r.above) - 3}" text-anchor="end">alert: ${esc(r.metric)} > ${pct(r.above, 1)}</text>`).join("");
  const every = Math.ceil(points.length / Math.max(2, Math.floor(W / 110)));
  const xlabels = points.map((p, i) => (i % every === 0) ? `<text class="axis" x="${x(i)}" y="${H - 6}" text-anchor="middle">${esc(when(p.at).slice(5, 16))}</text>` : "").join("");
  const legend = series.map(([, label], k) => `<span class="key s${k}">${esc(label)}</span>`).join(" ");
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="risk history">${grid}${alertLines}${lines}${xlabels}</svg><div class="legend">${legend}<span class="key alert">alert threshold</span></div>`;
}

function showRisk() {
  const pts = history.points;
  $("history").innerHTML = pts.length ? historySvg(pts, alerts.rules, $("history").clientWidth) : `<p class="hint">No live simulation yet: simulate the live book above.</p>`;
  rows("history-table", pts.slice().reverse().map((p) => [esc(when(p.at)), esc(num(p.paths, 0)), `${pct(p.p_bad_debt.value)} ± ${pct(p.p_bad_debt.se)}`, `${pct(p.p_socialized.value)} ± ${pct(p.p_socialized.se)}`, amount(p.var99.value, p.loss_asset), amount(p.cvar99.value, p.loss_asset), `<code>${esc(String(p.state_hash).slice(0, 10))}</code>`]), "no live simulation yet");
  $("rules").innerHTML = alerts.rules.length
    ? "Rules: " + alerts.rules.map((r, i) => `<span class="rule">${esc(r.metric)} &gt; ${esc(String(r.metric).startsWith("p_") ? pct(r.above) : num(r.above))} <button type="button" data-rule="${i}" aria-label="remove rule ${i}">×</button></span>`).join(" ")
    : `<p class="hint">No alert rules.</p>`;
  rows("alert-log", alerts.fired.slice().reverse().map((a) => [esc(when(a.at)), esc(a.metric), esc(String(a.metric).startsWith("p_") ? pct(a.value) : num(a.value)), esc(String(a.metric).startsWith("p_") ? pct(a.above) : num(a.above)), `<span class="st st-${esc(a.delivery)}">${esc(a.delivery)}</span>${a.attempts ? ` <small>${esc(a.attempts)} tries</small>` : ""}`, `<code>${esc(a.job_id)}</code>`]), "no alert has fired");
}

async function loadRisk() {
  let layers;
  [history, alerts, layers] = await Promise.all([api("/v1/risk/history"), api("/v1/risk/alerts"), api("/v1/sizings/layers")]);
  sizable = layers.layers;
  if (!$("profile").value) {
    try { $("profile").value = JSON.stringify((await api("/v1/risk/profile")).profile, null, 2); }
    catch (e) { if (e.status !== 404) throw e; }
  }
}

function bindRisk() {
  action("sim-form", "sim-msg", async (fd) => {
    const job = await post("/v1/simulations", { source: "live", paths: Number(fd.get("paths")), seed: Number(fd.get("seed")) });
    for (;;) {
      const j = await api("/v1/simulations/" + job.id);
      if (j.status === "queued" || j.status === "running") {
        say("sim-msg", `simulating the live book: ${Math.round(100 * j.progress)}%`, true);
        await new Promise((r) => setTimeout(r, 400));
        continue;
      }
      if (j.status !== "done") throw new Error(`${j.status}: ${j.error ?? ""}`);
      $("simout").innerHTML = simSummary(j.result) + `<p class="hint">state ${esc(String(j.state_hash).slice(0, 10))}… · <a href="#" id="simreport-link">open the report</a></p>`;
      $("simreport-link").addEventListener("click", async (e) => {
        e.preventDefault();
        const res = await fetch(`/v1/simulations/${job.id}/report`, { headers: { Authorization: "Bearer " + token } });
        const w = window.open("", "_blank");
        if (w) { w.document.write(await res.text()); w.document.close(); }
      });
      return `live simulation ${job.id} done (${num(j.result.paths, 0)} paths)`;
    }
  });
  action("size-form", "size-msg", async (fd) => {
    const layer = fd.get("layer");
    const ask = { size: { layer, target_p: Number(fd.get("target_p")) }, paths: Number(fd.get("paths")), seed: Number(fd.get("seed")) };
    const job = await post("/v1/sizings", ask);
    for (;;) {
      const j = await api("/v1/sizings/" + job.id);
      if (j.status === "queued" || j.status === "running") {
        say("size-msg", `sizing ${layer} on the live book: ${Math.round(100 * j.progress)}%`, true);
        await new Promise((r) => setTimeout(r, 400));
        continue;
      }
      if (j.status !== "done") throw new Error(`${j.status}: ${j.error ?? ""}`);
      $("sizeout").innerHTML = sizingSummary(j.result);
      return `sizing ${job.id} done (${num(String(j.result.paths), 0)} paths)`;
    }
  });
  action("rule-form", "rule-msg", async (fd) => {
    const rule = { metric: fd.get("metric").trim(), above: Number(fd.get("above")) };
    if (!Number.isFinite(rule.above)) throw new Error("above: give a number, e.g. 0.05");
    await post("/v1/risk/alerts", [...alerts.rules, rule], "PUT");
    return `alert rule added: ${rule.metric} above ${rule.above}`;
  });
  $("rules").addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-rule]");
    if (!b) return;
    try {
      await post("/v1/risk/alerts", alerts.rules.filter((_, i) => i !== Number(b.dataset.rule)), "PUT");
      say("rule-msg", "alert rule removed", true);
      await refresh();
    } catch (e) { say("rule-msg", e.message); }
  });
  action("profile-form", "profile-msg", async (fd) => {
    let body;
    try { body = JSON.parse(fd.get("profile")); } catch (e) { throw new Error(`profile: not JSON (${e.message})`); }
    await post("/v1/risk/profile", body, "PUT");
    return "risk profile saved";
  });
}

// -- the page ----------------------------------------------------------------------------------
const SECTIONS = {
  staker: ["staker-sec"], investor: ["investor-sec"], guarantor: ["guarantor-sec"],
  assessor: ["assessor-sec"], risk: ["risk-sec"], admin: ["risk-sec", "assessor-sec"], oracle: [],
};

async function refresh() {
  if (!token) return;
  me = await api("/v1/me");
  const [layers, markets, losses] = await Promise.all([api("/v1/layers"), api("/v1/markets"), all("/v1/losses")]);
  book = { layers, markets, losses };
  const shown = SECTIONS[me.role] || [];
  const jobs = [showBook()];
  if (shown.includes("staker-sec")) { account = await api(`/v1/accounts/${encodeURIComponent(me.account)}`); showStaker(); }
  if (shown.includes("investor-sec")) { account = await api(`/v1/accounts/${encodeURIComponent(me.account)}`); showInvestor(); }
  if (shown.includes("guarantor-sec")) showGuarantor();
  if (shown.includes("assessor-sec")) { await loadClaims(); showAssessor(); }
  if (shown.includes("risk-sec")) { await loadRisk(); showRisk(); showSizable(); }
  await Promise.all(jobs);
  $("meta").textContent = `${me.role}${me.account ? " · " + me.account : ""} · engine time ${when(me.now)}`;
  document.body.dataset.role = me.role;
}

async function login() {
  $("error").textContent = "";
  try {
    await refresh();
  } catch (e) {
    $("error").textContent = e.status === 401 ? `this key was refused (${e.message})` : e.message;
    token = "";
    localStorage.removeItem(KEY_STORE);
    return;
  }
  localStorage.setItem(KEY_STORE, token);
  $("login-sec").hidden = true;
  $("refresh").hidden = $("logout").hidden = false;
  for (const id of ["book-sec", "loss-sec"]) $(id).hidden = false;
  const shown = SECTIONS[me.role] || [];
  document.querySelectorAll("section.role").forEach((s) => { s.hidden = !shown.includes(s.id); });
}

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); token = $("key").value.trim(); login(); });
$("logout").addEventListener("click", () => { localStorage.removeItem(KEY_STORE); location.hash = ""; location.reload(); });
$("refresh").addEventListener("click", async () => { try { await refresh(); $("error").textContent = ""; } catch (e) { $("error").textContent = e.message; } });
bindStaker(); bindInvestor(); bindAssessor(); bindRisk();
if (token) login();
