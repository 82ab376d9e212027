// The swarmdns operator's page: reads the JSON endpoints of the
// operations listener and draws them. It only ever sends GET requests.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

// el builds an element: el("td", {class: "num"}, "3", child…).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k.startsWith("data-")) e.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function getJSON(url) {
  const r = await fetch(url, {headers: {Accept: "application/json"}});
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
  return body;
}

// every runs fn now and then every ms, never two at once.
// A run asked for while one is under way follows it.
function every(ms, fn) {
  let busy = false, again = false;
  const run = async () => {
    if (busy) { again = true; return; }
    busy = true;
    try { await fn(); } catch (e) { /* fn shows its own errors */ } finally { busy = false; }
    if (again) { again = false; run(); }
  };
  run();
  setInterval(run, ms);
  return run;
}

function ago(seconds) {
  if (seconds === undefined || seconds === null) return "never";
  if (seconds < 1) return "just now";
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  return Math.round(seconds / 3600) + " h ago";
}

// lasted says how long something has lasted: "5 s", "3 min", "2 h".
function lasted(seconds) {
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return Math.round(seconds / 3600) + " h";
}

function pct(x) { return (100 * x).toFixed(1) + "%"; }

function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MiB";
  return (n / 1024 / 1024 / 1024).toFixed(1) + " GiB";
}

function changes(n) { return n === 1 ? "1 change" : n + " changes"; }

function clear(node, ...kids) { node.replaceChildren(...kids); }

// ---- Now ----

let networks = [];

// The followers of a manager instance, a page at a time.
const followerState = {offset: 0, limit: 10, filter: ""};
let refreshStatusNow = () => {};

async function refreshStatus() {
  const q = new URLSearchParams({followers_offset: followerState.offset, followers_limit: followerState.limit});
  if (followerState.filter) q.set("followers_q", followerState.filter);
  let s;
  try { s = await getJSON("/v1/status?" + q); } catch (e) {
    const b = $("status-badge");
    b.textContent = "unreachable";
    b.className = "badge stale";
    return;
  }
  const badge = $("status-badge");
  badge.textContent = s.state;
  badge.className = "badge " + s.state.replace(/\s/g, "");
  $("status-domain").textContent = s.domain;
  const reason = $("now-reason");
  reason.hidden = !s.reason;
  reason.textContent = s.reason || "";
  const facts = [
    ["Source", s.source.kind ? s.source.kind + (s.source.origin ? " · " + s.source.origin : "") : "not described yet"],
    ["Goes stale", s.source.stales ? "after " + s.stale_after_seconds + " s without a sync" : "no (a watched file)"],
    ["Last sync", s.last_sync ? ago(s.seconds_since_sync) + " · " + new Date(s.last_sync).toLocaleTimeString() : "never"],
  ];
  if (s.last_sync_error) facts.push(["Last sync error", s.last_sync_error]);
  if (s.following) facts.push(...followingFacts(s.following));
  if (s.peers) facts.push(["Followers", followersSummary(s.peers)]);
  if (s.serial) {
    facts.push(["Serial", String(s.serial)]);
    facts.push(["Snapshot built", new Date(s.built).toLocaleString()]);
    facts.push(["Holds", `${s.stats.services} services · ${s.stats.tasks} tasks · ${s.stats.names} names`]);
  }
  facts.push(["Default scheduler", s.default_scheduler]);
  facts.push(["Snapshots published", String(s.swaps)]);
  facts.push(["Failed syncs", String(s.sync_errors)]);
  clear($("now-facts"), ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {"data-fact": k}, v)]));
  if (JSON.stringify(s.networks) !== JSON.stringify(networks)) {
    networks = s.networks;
    const sel = $("ask-network");
    const keep = sel.value;
    clear(sel, el("option", {value: ""}, "no network (host)"),
      ...networks.filter((n) => n.client).map((n) => el("option", {value: n.client}, `${n.name} (${n.client})`)));
    sel.value = keep;
  }
  showFollowers(s.peers);
}

// followingFacts are a follower's lines of "Now": the manager instance it
// follows, whether it is connected to it, how far behind, last heard.
function followingFacts(f) {
  let who = f.manager || "none yet";
  if (f.manager_node) who += " · node " + (f.manager_hostname ? f.manager_hostname + " (" + f.manager_node + ")" : f.manager_node);
  let link = f.connected ? "connected" : "not connected";
  if (f.since) link += (f.connected ? " since " : ", last session began ") + new Date(f.since).toLocaleTimeString();
  if (!f.connected && f.last_error) link += ": " + f.last_error;
  return [
    ["Follows", who],
    ["Manager link", link],
    ["Behind", changes(f.behind_changes)],
    ["Last heard", ago(f.seconds_since_heard)],
  ];
}

function followersSummary(p) {
  let s = `${p.followers} connected`;
  s += p.lagging ? ` · ${p.lagging} behind, the most by ${changes(p.most_behind_changes)}` : p.followers ? " · all current" : "";
  return s + ` · ${bytes(p.sent_bytes)} sent`;
}

// showFollowers draws the page of followers, on a manager instance.
function showFollowers(p) {
  const box = $("followers");
  box.hidden = !p;
  if (!p) return;
  const page = p.page;
  if (page.total > 0 && page.offset >= page.total) {
    followerState.offset = Math.max(0, Math.floor((page.total - 1) / followerState.limit) * followerState.limit);
    refreshStatusNow();
    return;
  }
  const rows = page.followers.map((f) => el("tr", {class: "follower", "data-node": f.node, "data-behind": f.behind_changes},
    el("td", {}, f.hostname ? f.hostname + " " : "", el("span", {class: "mono muted"}, f.node), " ", el("span", {class: "muted small"}, f.role)),
    el("td", {class: "mono"}, f.addr),
    el("td", {}, lasted(f.seconds_connected)),
    el("td", {class: "num"}, changes(f.behind_changes)),
    el("td", {}, ago(f.seconds_since_heard)),
    el("td", {class: "num"}, bytes(f.sent_bytes))));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", {colspan: 6, class: "empty"}, followerState.filter ? "No follower matches." : "No follower is connected.")));
  clear($("followers-table").tBodies[0], ...rows);
  const from = page.total ? page.offset + 1 : 0, to = page.offset + page.followers.length;
  $("followers-count").textContent = `${from}–${to} of ${page.total}`;
  $("followers-prev").disabled = page.offset === 0;
  $("followers-next").disabled = to >= page.total;
}

// ---- Services ----

const svcState = {offset: 0, limit: 50, filter: "", total: 0, open: new Set(), details: new Map()};

async function refreshServices() {
  const q = new URLSearchParams({offset: svcState.offset, limit: svcState.limit});
  if (svcState.filter) q.set("q", svcState.filter);
  let page;
  try { page = await getJSON("/v1/services?" + q); } catch (e) {
    clear($("svc-table").tBodies[0], el("tr", {}, el("td", {colspan: 8, class: "empty"}, e.message)));
    return;
  }
  if (page.total > 0 && page.offset >= page.total) {
    svcState.offset = Math.max(0, Math.floor((page.total - 1) / svcState.limit) * svcState.limit);
    return refreshServices();
  }
  svcState.total = page.total;
  const ids = page.services.filter((s) => svcState.open.has(s.id)).map((s) => s.id);
  await Promise.all(ids.map(loadDetail));
  const rows = [];
  for (const s of page.services) {
    rows.push(serviceRow(s));
    if (svcState.open.has(s.id)) rows.push(detailRow(s.id));
  }
  if (rows.length === 0) rows.push(el("tr", {}, el("td", {colspan: 8, class: "empty"}, svcState.filter ? "No service matches." : "No services.")));
  clear($("svc-table").tBodies[0], ...rows);
  const from = page.total ? page.offset + 1 : 0, to = page.offset + page.services.length;
  $("svc-count").textContent = `${from}–${to} of ${page.total}`;
  $("svc-prev").disabled = page.offset === 0;
  $("svc-next").disabled = to >= page.total;
  if (!document.body.dataset.rendered) document.body.dataset.rendered = String(performance.now());
}

function serviceRow(s) {
  const open = svcState.open.has(s.id);
  const nets = (s.networks || []).map((n) => n.network + (n.aliases ? " (" + n.aliases.join(", ") + ")" : "")).join(", ");
  const vips = Object.entries(s.vips || {}).map(([n, ip]) => ip + " on " + n).join(", ");
  const ports = (s.ports || []).map((p) => (p.name ? p.name + ":" : "") + p.target + "/" + p.protocol + (p.published ? " → " + p.published : "")).join(", ");
  const mode = s.endpoint_mode + (s.global ? " · global" : "");
  return el("tr", {class: "svc", "data-id": s.id, "data-name": s.name},
    el("td", {}, el("button", {class: "toggle", type: "button", "aria-expanded": String(open),
      on: {click: () => toggle(s.id)}}, s.name)),
    el("td", {}, mode), el("td", {}, nets || "—"), el("td", {class: "mono"}, vips || "—"),
    el("td", {}, s.scheduler), el("td", {class: "num"}, s.ttl + " s"), el("td", {}, ports || "—"),
    el("td", {class: "num"}, String(s.tasks)));
}

async function loadDetail(id) {
  try { svcState.details.set(id, await getJSON("/v1/services/" + encodeURIComponent(id))); } catch (e) {
    svcState.details.set(id, {error: e.message});
  }
}

function detailRow(id) {
  const d = svcState.details.get(id);
  const td = el("td", {colspan: 8});
  if (!d) td.append(el("p", {class: "empty"}, "loading…"));
  else if (d.error) td.append(el("p", {class: "error-text"}, d.error));
  else {
    const tasks = d.task_list.map((t) => el("tr", {class: "task", "data-task": t.id},
      el("td", {class: "num"}, t.slot ? String(t.slot) : "—"), el("td", {class: "mono"}, t.id), el("td", {}, t.node || "—"),
      el("td", {}, t.state), el("td", {class: "mono"}, Object.entries(t.addresses || {}).map(([n, a]) => a.join(", ") + " on " + n).join("; ") || "—"),
      el("td", {class: "num"}, t.weight ? String(t.weight) : "—")));
    td.append(el("div", {class: "scroll"}, el("table", {class: "grid tasks"},
      el("thead", {}, el("tr", {}, ["Slot", "Task", "Node", "State", "Addresses", "Weight"].map((h) => el("th", {}, h)))),
      el("tbody", {}, tasks.length ? tasks : el("tr", {}, el("td", {colspan: 6, class: "empty"}, "No tasks."))))));
    td.append(el("h3", {}, "Names that answer it"));
    td.append(d.names.length ? el("ul", {class: "names"}, d.names.map((n) => el("li", {}, n))) : el("p", {class: "empty"}, "None."));
  }
  return el("tr", {class: "detail", "data-for": id}, td);
}

async function toggle(id) {
  if (svcState.open.has(id)) svcState.open.delete(id);
  else svcState.open.add(id);
  await refreshServicesNow();
}

let refreshServicesNow = () => {};

// ---- Spread ----

let spreadFilter = "";

async function refreshSpread() {
  const q = new URLSearchParams({limit: 20});
  if (spreadFilter) q.set("service", spreadFilter);
  let sp;
  try { sp = await getJSON("/v1/spread?" + q); } catch (e) {
    clear($("spread-list"), el("p", {class: "empty"}, e.message));
    return;
  }
  if (sp.services.length === 0) {
    clear($("spread-list"), el("p", {class: "empty"}, "No answers with more than one record in the last minute."));
    return;
  }
  clear($("spread-list"), ...sp.services.map((svc) => el("div", {class: "spread-svc", "data-service": svc.service},
    el("h3", {}, svc.service, " ", el("span", {class: "muted"}, svc.answers + " answers")),
    svc.sets.map((set) => el("div", {class: "spread-set", "data-name": set.name, "data-type": set.type, "data-network": set.network || ""},
      el("div", {class: "what"}, `${set.name} ${set.type}${set.network ? " · view " + set.network : ""} · ${set.scheduler} · ${set.answers} answers`),
      set.records.map(spreadRecord))))));
  if (sp.total > sp.services.length) $("spread-list").append(el("p", {class: "muted small"}, `${sp.total - sp.services.length} more services had answers; filter to see them.`));
}

function spreadRecord(r) {
  const fill = el("div", {class: "fill"});
  fill.style.width = pct(r.share);
  const bar = el("div", {class: "bar", title: `${r.first} answers first`}, fill);
  if (r.promised !== undefined) {
    const mark = el("div", {class: "mark"});
    mark.style.left = pct(r.promised);
    bar.append(mark);
  }
  const label = r.data + (r.info && r.info !== r.data ? " · " + r.info : "") + (r.weight > 1 ? " · w" + r.weight : "");
  return el("div", {class: "rec", "data-data": r.data, "data-share": r.share, "data-promised": r.promised === undefined ? "" : r.promised},
    el("span", {class: "label mono", title: label}, label), bar,
    el("span", {class: "pct"}, pct(r.share), el("span", {class: "muted"}, r.promised === undefined ? "" : " / " + pct(r.promised))));
}

// ---- Traffic ----

const outcomeLabels = {registry: "from the registry", forwarded: "forwarded", cached: "cached", nxdomain: "NXDOMAIN", refused: "refused", servfail: "SERVFAIL", error: "other errors"};

async function refreshTraffic() {
  let t;
  try { t = await getJSON("/v1/traffic"); } catch (e) {
    clear($("traffic-chart"), el("p", {class: "empty"}, e.message));
    return;
  }
  drawChart(t);
  const recent = (s) => { const tail = s.slice(-10); return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : 0; };
  clear($("traffic-legend"), ...t.outcomes.map((o) => el("li", {class: "o-" + o, "data-outcome": o},
    el("span", {}, `${outcomeLabels[o] || o} ${recent(t.series[o]).toFixed(1)}/s`))));
  if (!t.forwards) {
    clear($("upstreams"), el("p", {class: "empty"}, "Not forwarding: no upstream resolver is configured."));
    return;
  }
  clear($("upstreams"), el("table", {class: "grid"},
    el("thead", {}, el("tr", {}, el("th", {}, "Upstream"), el("th", {}, "Health"), el("th", {}, "Failures in a row"))),
    el("tbody", {}, t.upstreams.map((u) => el("tr", {},
      el("td", {class: "mono"}, u.address),
      el("td", {}, u.up ? el("span", {class: "up"}, "up") : el("span", {class: "down"}, `down, tried last for ${u.down_for_seconds.toFixed(0)} s more`)),
      el("td", {class: "num"}, String(u.failures_in_a_row)))))));
}

function drawChart(t) {
  const W = 600, H = 170, L = 34, B = 16, T = 6;
  const n = t.series[t.outcomes[0]].length;
  // The axis spans what the server has kept: from one minute to five.
  const N = Math.min(300, Math.max(60, n));
  const span = (s) => s >= 120 ? (s / 60) + " min ago" : s + " s ago";
  const stack = [];
  let peak = 1;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    const col = [];
    for (const o of t.outcomes) { col.push(sum); sum += t.series[o][i]; }
    col.push(sum);
    stack.push(col);
    peak = Math.max(peak, sum);
  }
  const nice = niceMax(peak);
  const x = (i) => L + (W - L) * (N - n + i) / (N - 1);
  const y = (v) => T + (H - B - T) * (1 - v / nice);
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "queries per second by outcome"});
  for (const v of [0, nice / 2, nice]) {
    g.append(svg("line", {class: "axis", x1: L, x2: W, y1: y(v), y2: y(v)}));
    const label = svg("text", {x: L - 4, y: y(v) + 3, "text-anchor": "end"});
    label.textContent = v >= 1000 ? (v / 1000) + "k" : String(v);
    g.append(label);
  }
  for (const [i, text] of [[0, span(N)], [N / 2, span(N / 2)], [N - 1, "now"]]) {
    const label = svg("text", {x: L + (W - L) * i / (N - 1), y: H - 3, "text-anchor": i === 0 ? "start" : i === N - 1 ? "end" : "middle"});
    label.textContent = text;
    g.append(label);
  }
  if (n > 1) {
    t.outcomes.forEach((o, k) => {
      let top = "", bottom = "";
      for (let i = 0; i < n; i++) top += `${x(i).toFixed(1)},${y(stack[i][k + 1]).toFixed(1)} `;
      for (let i = n - 1; i >= 0; i--) bottom += `${x(i).toFixed(1)},${y(stack[i][k]).toFixed(1)} `;
      g.append(svg("polygon", {class: "o-" + o, points: top + bottom}));
    });
  }
  clear($("traffic-chart"), g);
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- Ask ----

async function ask(ev) {
  ev.preventDefault();
  const q = new URLSearchParams({name: $("ask-name").value.trim(), type: $("ask-type").value});
  const client = $("ask-client").value.trim() || $("ask-network").value;
  if (client) q.set("client", client);
  const out = $("ask-result");
  let r;
  try { r = await getJSON("/v1/resolve?" + q); } catch (e) {
    clear(out, el("p", {class: "error-text"}, e.message));
    return;
  }
  const p = r.path || {};
  const steps = [el("b", {}, p.source)];
  if (p.owner) steps.push(" → name ", el("span", {class: "mono"}, p.owner));
  if (client) steps.push(" → client on ", p.client_networks && p.client_networks.length ? p.client_networks.join(", ") : "no known network");
  if (p.owner) steps.push(" → view ", p.view || "default");
  if (p.scheduler) steps.push(" → ", p.scheduler);
  const section = (title, rrs, cls) => rrs.length === 0 ? [] : [el("h3", {}, title), el("div", {class: "scroll"}, el("table", {class: "grid " + cls},
    el("thead", {}, el("tr", {}, ["Name", "Type", "TTL", "Data"].map((h) => el("th", {}, h)))),
    el("tbody", {}, rrs.map((rr) => el("tr", {}, el("td", {class: "mono"}, rr.name), el("td", {}, rr.type), el("td", {class: "num"}, String(rr.ttl)), el("td", {class: "mono"}, rr.data))))))];
  clear(out,
    el("p", {class: "rcode"}, el("b", {"data-rcode": r.rcode}, r.rcode), ` · ${r.answer.length} answer${r.answer.length === 1 ? "" : "s"}`,
      r.authoritative ? " · authoritative" : "", r.truncated ? " · truncated" : ""),
    el("p", {class: "path"}, ...steps),
    ...section("Answer", r.answer, "answer"), ...section("Authority", r.authority, "authority"), ...section("Additional", r.additional, "additional"));
}

// ---- wiring ----

function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

document.addEventListener("DOMContentLoaded", () => {
  refreshStatusNow = every(2000, refreshStatus);
  refreshServicesNow = every(5000, refreshServices);
  every(3000, refreshSpread);
  every(2000, refreshTraffic);
  $("svc-filter").addEventListener("input", debounce((e) => {
    svcState.filter = e.target.value.trim();
    svcState.offset = 0;
    refreshServicesNow();
  }, 200));
  $("svc-prev").addEventListener("click", () => { svcState.offset = Math.max(0, svcState.offset - svcState.limit); refreshServicesNow(); });
  $("svc-next").addEventListener("click", () => { svcState.offset += svcState.limit; refreshServicesNow(); });
  $("followers-filter").addEventListener("input", debounce((e) => {
    followerState.filter = e.target.value.trim();
    followerState.offset = 0;
    refreshStatusNow();
  }, 200));
  $("followers-prev").addEventListener("click", () => { followerState.offset = Math.max(0, followerState.offset - followerState.limit); refreshStatusNow(); });
  $("followers-next").addEventListener("click", () => { followerState.offset += followerState.limit; refreshStatusNow(); });
  $("spread-filter").addEventListener("input", debounce((e) => { spreadFilter = e.target.value.trim(); refreshSpread(); }, 200));
  $("ask-form").addEventListener("submit", ask);
});
