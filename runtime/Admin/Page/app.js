// RpcGen admin page: a view of the JSON under api/ (docs/admin.md), polled once a second. No framework, no build step;
// every value is written with textContent, never as HTML.
"use strict";

const views = { clients: renderClients, servers: renderServers, methods: renderMethods, events: renderEvents };
let current = "clients";
let timer = 0;
let eventsAfter = 0;
let eventRows = [];
const maxEventRows = 512;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = (value, digits = 1) => value === null || value === undefined ? "–" : Number(value).toFixed(digits);
const pct = value => value === null || value === undefined ? "–" : (value * 100).toFixed(value === 1 ? 0 : value > 0.99 ? 2 : 1) + " %";
const ms = value => value === null || value === undefined || value === 0 ? "–" : value < 0.1 ? `${Math.round(value * 1000)} µs` : value.toFixed(2);
const badge = state => el("span", { class: "badge " + state }, state.replace("_", " "));
const time = iso => new Date(iso).toLocaleTimeString([], { hour12: false });

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", { class: h.num ? "num" : null }, h.label ?? h)))),
    el("tbody", {}, rows));
}

function renderClients(doc) {
  if (doc.clients.length === 0) return el("p", { class: "empty" }, "No RpcClient in this process.");
  return doc.clients.map(client => {
    const d = client.discovery;
    const summary = el("p", { class: "summary" },
      "discovery ", el("b", {}, d.source), " ", d.stale ? badge("stale") : badge("ok"),
      d.ageSeconds !== null ? ` last answer ${fmt(d.ageSeconds)} s ago` : "",
      d.lastError ? ` (${d.lastError})` : "",
      " · in flight ", el("b", {}, client.inFlight),
      " · retry budget left ", el("b", {}, fmt(client.retryBudgetAvailable)),
      " · candidates ", el("b", {}, client.candidates), "/", client.endpoints.length,
      client.panic ? " · panic: picking among all" : "");
    const rows = client.endpoints.map(e => el("tr", { "data-endpoint": e.address, "data-state": e.state },
      el("td", {}, e.address),
      el("td", {}, badge(e.state)),
      el("td", { class: "wrap" }, e.ejection ? `${e.ejection.reason ?? ""} until ${time(e.ejection.until)} (#${e.ejection.count})` : (e.lastError && e.state !== "ready" ? e.lastError : "")),
      el("td", { class: "num" }, e.priority),
      el("td", {}, e.zone ?? "–"),
      el("td", { class: "num" }, e.effectiveWeight === e.weight ? e.weight : `${fmt(e.effectiveWeight, 2)}/${e.weight}`),
      el("td", { class: "num" }, e.inFlight),
      el("td", { class: "num" }, fmt(e.picksPerSecond)),
      el("td", { class: "num" }, ms(e.latencyEwmaMs)),
      el("td", { class: "num" }, ms(e.p50Ms)),
      el("td", { class: "num" }, ms(e.p99Ms)),
      el("td", { class: "num" }, pct(e.successRate)),
      el("td", {}, e.circuits.length === 0 ? "–" : e.circuits.map(c => el("span", { title: c.scope }, badge(c.state), " "))),
      el("td", { class: "dots" }, e.recent.map(r => el("span", { class: r, title: r })))));
    return el("section", { "data-client": client.name },
      el("h2", {}, "client ", client.name), summary,
      table(["endpoint", "state", "why", { label: "priority", num: 1 }, "zone", { label: "weight", num: 1 }, { label: "in flight", num: 1 },
        { label: "picks/s", num: 1 }, { label: "EWMA", num: 1 }, { label: "p50", num: 1 }, { label: "p99", num: 1 },
        { label: "success", num: 1 }, "circuits", "recent"], rows));
  });
}

function limitCell(limit) {
  if (limit.max === null) return el("td", {}, `${limit.used} (no limit)`);
  const share = limit.max === 0 ? 0 : Math.min(1, limit.used / limit.max);
  return el("td", {}, el("span", { class: "bar" }, el("i", { class: share > 0.8 ? "high" : null, style: `width:${share * 100}%` })), `${limit.used} / ${limit.max}`);
}

function renderServers(doc) {
  if (doc.servers.length === 0) return el("p", { class: "empty" }, "No RpcServer running in this process.");
  return doc.servers.map(server => {
    const l = server.limits;
    const dd = server.deduplication;
    const limits = table(["connections", "calls", "streams", "per connection", "dedup window"], [el("tr", {},
      limitCell(l.connections), limitCell(l.calls), limitCell(l.streams),
      el("td", {}, `${l.callsPerConnection} calls, ${l.streamsPerConnection} streams`),
      limitCell({ used: dd.entries, max: dd.capacity }))]);
    const connections = table(["peer", "transport", { label: "age s", num: 1 }, { label: "calls", num: 1 }, { label: "streams", num: 1 }, "going away"],
      server.connections.map(c => el("tr", { "data-peer": c.peer },
        el("td", {}, c.peer), el("td", {}, c.transport), el("td", { class: "num" }, fmt(c.ageSeconds)),
        el("td", { class: "num" }, c.calls), el("td", { class: "num" }, c.streams), el("td", {}, c.goingAway ? "yes" : ""))));
    const stores = table(["store", "for", "health", { label: "entries", num: 1 }, { label: "evicted", num: 1 }, "where"],
      (dd.stores || []).map(s => el("tr", { "data-store": s.name },
        el("td", {}, s.name), el("td", {}, [s.default ? "default" : "", ...s.services].filter(x => x).join(", ")),
        el("td", {}, badge(s.health)), el("td", { class: "num" }, s.entries === undefined ? "" : `${s.entries} / ${s.capacity}`),
        el("td", { class: "num" }, s.evicted ?? ""), el("td", {}, s.description ?? ""))));
    return el("section", { "data-server": server.name },
      el("h2", {}, server.name, " ", badge(server.state)),
      el("p", { class: "summary" }, "listening on ", el("b", {}, server.listeners.join(", ")), server.tls ? " (TLS)" : "",
        " · in flight ", el("b", {}, server.inFlight), " · connections ", el("b", {}, server.connectionCount),
        server.connectionCount > server.connections.length ? ` (${server.connections.length} oldest listed)` : "",
        ` · dedup ${(dd.bytes / 1048576).toFixed(1)} of ${(dd.maxBytes / 1048576).toFixed(0)} MiB`),
      limits, el("h2", {}, "deduplication stores"), stores, el("h2", {}, "connections"), connections);
  });
}

function policies(p) {
  const parts = [`timeout ${p.timeoutMs ? p.timeoutMs + " ms" : "none"}`];
  if (p.balancer) parts.push(p.balancer);
  if (p.idempotent) parts.push("idempotent");
  if (p.deduplicate) parts.push("deduplicate");
  if (p.retry) parts.push("retry " + p.retry);
  if (p.hedging) parts.push("hedging " + p.hedging);
  if (p.circuitBreaker) parts.push("breaker " + p.circuitBreaker);
  if (p.streaming && p.streaming !== "none") parts.push(p.streaming + " stream");
  if (p.compression) parts.push("compress " + p.compression);
  if (p.authorization) parts.push("auth: " + p.authorization);
  return parts.join(" · ");
}

function renderMethods(doc) {
  if (doc.methods.length === 0) return el("p", { class: "empty" }, "No methods yet: a client lists the methods of the proxies it built, a server those it maps.");
  // Busy methods first; the rest keep their order (client before server, as the JSON lists them).
  const methods = doc.methods.map((m, i) => [m, i]).sort((a, b) => (b[0].ratePerSecond - a[0].ratePerSecond) || (a[1] - b[1])).map(p => p[0]);
  const rows = methods.map(m => el("tr", { "data-method": `${m.side}:${m.service}/${m.method}` },
    el("td", {}, m.side), el("td", {}, m.owner), el("td", {}, `${m.service}/${m.method}`),
    el("td", { class: "num" }, fmt(m.ratePerSecond)), el("td", { class: "num" }, pct(m.successRate)),
    el("td", { class: "num" }, ms(m.p50Ms)), el("td", { class: "num" }, ms(m.p95Ms)), el("td", { class: "num" }, ms(m.p99Ms)),
    el("td", { class: "wrap muted" }, policies(m.policies))));
  return el("section", {},
    el("p", { class: "summary" }, `Over the last ${Math.min(doc.windowSeconds, Math.ceil(doc.watchedSeconds))} s (recorded while the page is open).`),
    table(["side", "owner", "method", { label: "calls/s", num: 1 }, { label: "success", num: 1 }, { label: "p50", num: 1 },
      { label: "p95", num: 1 }, { label: "p99", num: 1 }, "policies in force"], rows));
}

function renderEvents(doc) {
  for (const e of doc.events) {
    eventRows.unshift(el("tr", { "data-kind": e.kind },
      el("td", {}, time(e.time)), el("td", {}, badge(e.kind)), el("td", {}, e.source), el("td", {}, e.subject), el("td", { class: "wrap" }, e.detail)));
    eventsAfter = Math.max(eventsAfter, e.sequence);
  }
  eventRows = eventRows.slice(0, maxEventRows);
  if (eventRows.length === 0) return el("p", { class: "empty" }, "No events yet.");
  return el("section", {}, table(["time", "kind", "source", "subject", "detail"], eventRows));
}

async function refresh() {
  const url = current === "events" ? `api/events?after=${eventsAfter}` : `api/${current}`;
  const status = document.getElementById("status");
  try {
    const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const doc = await response.json();
    const view = document.getElementById("view");
    view.replaceChildren(...[views[current](doc)].flat());
    status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    status.className = "";
  } catch (error) {
    status.textContent = `not updating: ${error.message}`;
    status.className = "stale";
  }
}

function show(view) {
  current = views[view] ? view : "clients";
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === current);
  const json = document.getElementById("json");
  json.href = json.textContent = `api/${current}`;
  clearTimeout(timer);
  const tick = async () => { await refresh(); timer = setTimeout(tick, 1000); };
  tick();
}

window.addEventListener("hashchange", () => show(location.hash.slice(1)));
show(location.hash.slice(1));
