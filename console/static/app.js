// Tributary's web console: hash-routed pages over the JSON API, signed in with a session
// cookie. The server decides everything (roles, validation); this file only shows what the
// API answers. Text is always set with textContent, never as HTML.

import { h, api, state, can, when, duration, status, counts, toast, showErrors, page, failed } from "./lib.js";
import { openapi, objectFields, newContext } from "./forms.js";

// ---- sign-in ----
function loginPage(reason) {
  document.getElementById("top").hidden = true;
  const err = h("p", { class: "field-error", id: "token-error", role: "alert" }, reason || "");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-error" });
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const s = await api("POST", "/api/v1/session", { token: input.value.trim() });
      signedIn(s);
      location.hash = "#/";
    } catch (x) {
      err.textContent = x.status === 429 ? "Too many failed attempts; wait a minute." : "That token is not valid (unknown, expired or revoked).";
    }
  } },
  h("h1", {}, "Sign in to Tributary"),
  h("label", { for: "token" }, "API token", input), err,
  h("p", { class: "muted" }, "Create one with tributary-migrate token NAME, or ask an admin. The console keeps it in an HttpOnly session cookie for 12 hours."),
  h("button", { type: "submit", id: "signin" }, "Sign in"));
  document.getElementById("main").replaceChildren(form);
  input.focus();
}

function signedIn(s) {
  state.me = s;
  state.csrf = s.csrf_token;
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = s.name + " (" + s.role + ")";
  for (const a of document.querySelectorAll("header nav a.admin")) a.hidden = !can("admin");
}

// ---- overview ----
async function overviewPage() {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const [tasks, conns, trend] = await Promise.all([api("GET", "/api/v1/tasks"), api("GET", "/api/v1/connectors"), api("GET", "/api/v1/findings/trend?days=30")]);
  const byStatus = {};
  let cursor = "", n = 0;
  for (let i = 0; i < 10; i++) { // at most 2,000 runs of the last day
    const p = await api("GET", "/api/v1/runs?limit=200&started_after=" + encodeURIComponent(since) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    for (const r of p.items) { byStatus[r.status] = (byStatus[r.status] || 0) + 1; n++; }
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  const max = Math.max(1, ...Object.values(byStatus));
  page("Overview",
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "n" }, tasks.items.length), h("div", { class: "l" }, "integration tasks")),
      h("div", { class: "card" }, h("div", { class: "n" }, conns.items.length), h("div", { class: "l" }, "connectors")),
      h("div", { class: "card" }, h("div", { class: "n" }, n), h("div", { class: "l" }, "runs in the last 24 hours")),
      h("div", { class: "card" }, h("div", { class: "n", id: "failed-24h" }, byStatus.failed || 0), h("div", { class: "l" }, "failed in the last 24 hours"))),
    h("h2", {}, "Runs by status, last 24 hours"),
    n === 0 ? h("p", { class: "muted" }, "No runs in the last 24 hours.") :
      h("div", { class: "bars", role: "img", "aria-label": "Runs by status" }, Object.entries(byStatus).sort().map(([s, c]) =>
        h("div", { class: "bar" }, h("a", { href: "#/runs?status=" + s }, s),
          h("div", { class: "fill " + s, style: null, "data-w": c / max }), h("span", {}, c)))));
  document.getElementById("main").append(h("h2", {}, "Open findings by severity, last 30 days"), severityChart(trend.items));
  // widths without inline style attributes (the policy allows no inline styles)
  for (const f of document.querySelectorAll(".fill[data-w]")) f.style.width = (100 * f.dataset.w).toFixed(1) + "%";
}

// severityChart draws open findings per day as stacked bars, one colour per severity, with
// a legend and a table behind it for screen readers.
const severities = ["Critical", "High", "Medium", "Low", "Info"];
function severityChart(days) {
  const total = (d) => severities.reduce((n, s) => n + (d.counts[s] || 0), 0);
  const max = Math.max(1, ...days.map(total));
  const W = 900, H = 220, pad = 34, bw = (W - pad) / Math.max(1, days.length);
  const svg = (tag, attrs, ...kids) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    el.append(...kids);
    return el;
  };
  const bars = [];
  days.forEach((d, i) => {
    let y = H - 20;
    for (const s of severities) {
      const n = d.counts[s] || 0;
      if (!n) continue;
      const hgt = ((H - 30) * n) / max;
      y -= hgt;
      bars.push(svg("rect", { x: pad + i * bw + 1, y: y.toFixed(1), width: Math.max(1, bw - 2).toFixed(1), height: hgt.toFixed(1), class: "s-" + s },
        svg("title", {}, d.day + ": " + n + " " + s)));
    }
  });
  const axis = [svg("text", { x: pad - 4, y: 14, "text-anchor": "end", class: "axis" }, String(max)),
    svg("text", { x: pad - 4, y: H - 20, "text-anchor": "end", class: "axis" }, "0"),
    days.length ? svg("text", { x: pad, y: H - 4, class: "axis" }, days[0].day) : "",
    days.length ? svg("text", { x: W, y: H - 4, "text-anchor": "end", class: "axis" }, days[days.length - 1].day) : ""];
  const last = days[days.length - 1] || { counts: {} };
  return h("figure", { class: "chart", id: "severity-chart" },
    svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Open findings by severity per day" }, ...bars, ...axis),
    h("figcaption", {}, severities.map((s) => h("span", { class: "legend" }, h("span", { class: "swatch s-" + s }), s + " " + (last.counts[s] || 0)))),
    h("details", {}, h("summary", {}, "As a table"), table("severity-table", ["Day", ...severities], days.slice().reverse(), (d) => [d.day, ...severities.map((s) => d.counts[s] || 0)])));
}

// ---- runs ----
function runsTable(items) {
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Started", "Subject", "Type", "Trigger", "Status", "Duration", "Counts"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((r) => h("tr", {},
      h("td", {}, h("a", { href: "#/runs/" + r.id }, when(r.started_at))),
      h("td", {}, r.subject_name), h("td", {}, r.task_type || r.kind.replace("connector_", "")), h("td", {}, r.trigger),
      h("td", {}, status(r.status)), h("td", {}, duration(r.duration_ms)), h("td", {}, counts(r.counts))))));
}

async function runsPage(params) {
  const items = await api("GET", "/api/v1/runs?" + new URLSearchParams(params).toString());
  page("Runs", filterForm("runs", params, [
    ["Status", "status", ["running", "succeeded", "failed", "skipped", "cancelled", "timed_out"]],
    ["Kind", "kind", ["task", "connector_discover", "connector_sync"]],
    ["Trigger", "trigger", ["scheduled", "manual", "api"]]], ["task_id", "connector_id"]),
  items.items.length ? runsTable(items.items) : h("p", { class: "muted" }, "No runs match."),
  nextLink("runs", params, items.next_cursor, "Older runs →"));
}

// filterForm is a row of selects ([label, parameter, values], or "text" for a search box) that goes to route with the
// chosen values, keeping the scope parameters named in keep; paging starts again.
function filterForm(route, params, selects, keep) {
  return h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const f = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (v) f.set(k, v);
    location.hash = "#/" + route + "?" + f.toString();
  } },
  selects.map(([label, name, values]) => h("label", {}, label, values === "text" ?
    h("input", { type: "search", name, id: "f-" + name, value: params.get(name) || "" }) :
    h("select", { name, id: "f-" + name }, h("option", { value: "" }, "any"),
      values.map((v) => h("option", { value: v, selected: params.get(name) === v }, v))))),
  keep.map((k) => params.get(k) ? h("input", { type: "hidden", name: k, value: params.get(k) }) : null),
  h("button", { type: "submit" }, "Filter"));
}

// nextLink links to the next page of a listing, when there is one.
function nextLink(route, params, cursor, text) {
  if (!cursor) return null;
  const n = new URLSearchParams(params);
  n.set("cursor", cursor);
  return h("p", {}, h("a", { href: "#/" + route + "?" + n.toString() }, text));
}

async function runPage(id) {
  let r;
  try {
    r = await api("GET", "/api/v1/runs/" + encodeURIComponent(id));
    state.waited = 0;
  } catch (x) {
    // A run just started is recorded by its workflow a moment later: wait for it a while.
    if (x.status !== 404 || (state.waited = (state.waited || 0) + 1) > 30) throw x;
    page("Run", h("p", { class: "muted", id: "run-waiting" }, "Starting the run…"));
    state.timer = setTimeout(() => { if (location.hash === "#/runs/" + id) route(); }, 1000);
    return;
  }
  const kv = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  const parts = [h("dl", { class: "kv" },
    kv("Status", h("span", { id: "run-status" }, status(r.status))),
    kv("Subject", r.task_id ? h("a", { href: "#/runs?task_id=" + r.task_id }, r.subject_name) : h("a", { href: "#/runs?connector_id=" + r.connector_id }, r.subject_name)),
    kv("Kind / type", r.kind + (r.task_type ? " · " + r.task_type : "")),
    kv("Trigger", r.trigger + (r.triggered_by ? " by " + r.triggered_by : "")),
    kv("Started", when(r.started_at)), kv("Ended", when(r.ended_at)), kv("Duration", duration(r.duration_ms)),
    kv("Attempt", r.attempt), kv("Counts", counts(r.counts)),
    kv("Temporal", r.temporal_ui_url ? h("a", { href: r.temporal_ui_url, target: "_blank", rel: "noopener" }, r.workflow_id) : r.workflow_id))];
  if (r.error) parts.push(h("h2", {}, "Error"), h("pre", { class: "error", id: "run-error" }, r.error));
  if (r.status === "running") {
    const p = r.progress;
    const hb = (p && p.heartbeat) || {};
    const done = hb.done ?? hb.entries ?? hb.rows ?? hb.stored;
    const total = hb.total;
    parts.push(h("h2", {}, "Progress"),
      p ? h("div", { id: "progress" },
        total > 0 ? h("progress", { max: total, value: Math.min(done || 0, total) }) : null,
        h("p", {}, [hb.phase, done !== undefined ? done + (total ? " of " + total : "") : "",
          "activity " + p.activity + " (" + p.state + ", attempt " + p.attempt + ")",
          p.last_heartbeat_at ? "last heartbeat " + when(p.last_heartbeat_at) : ""].filter(Boolean).join(" · ")),
        p.last_failure ? h("p", { class: "error" }, "Previous attempt: " + p.last_failure) : null)
        : h("p", { class: "muted" }, "Waiting for a worker…"));
    // refresh until the run ends, without reloading the page
    state.timer = setTimeout(() => { if (location.hash === "#/runs/" + id) route(); }, 1500);
  }
  if (r.details && Object.keys(r.details).length) parts.push(h("h2", {}, "Details"), h("pre", {}, JSON.stringify(r.details, null, 2)));
  page("Run of " + r.subject_name, ...parts);
}

// ---- tasks ----
async function startRun(path, button) {
  button.disabled = true;
  try {
    const t = await api("POST", path);
    location.hash = "#/runs/" + t.run_id;
  } catch (x) {
    button.disabled = false;
    if (x.status === 409 && x.body && x.body.running_run_id) {
      toast("Already running.", true, h("a", { href: "#/runs/" + x.body.running_run_id }, "See the running run"));
    } else toast(x.message, true);
  }
}

// lastRun shows a run's status and start, linked to the run.
function lastRun(r) {
  return r ? [status(r.status), " ", h("a", { href: "#/runs/" + r.id }, when(r.started_at))] : "—";
}

async function tasksPage(params) {
  const [tasks, types] = await Promise.all([api("GET", "/api/v1/tasks" + (params.get("type") ? "?type=" + encodeURIComponent(params.get("type")) : "")), taskTypes()]);
  const title = (t) => (types[t] ? types[t].title : t);
  page("Integration tasks",
    can("admin") ? h("p", {}, h("a", { class: "button", href: "#/tasks/new", id: "new-task" }, "New task")) : null,
    filterForm("tasks", params, [["Type", "type", Object.keys(types)]], []),
    tasks.items.length === 0 ? h("p", { class: "muted" }, "No tasks yet.") :
    h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Type", "Schedule", "Enabled", "Last run", "Next run", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, tasks.items.map((t) => h("tr", { "data-task": t.name },
        h("td", {}, h("a", { href: "#/tasks/" + t.id }, t.name)), h("td", {}, title(t.type)),
        h("td", {}, t.schedule ? t.schedule + (t.timezone && t.timezone !== "UTC" ? " (" + t.timezone + ")" : "") : "—"),
        h("td", {}, t.enabled ? "yes" : "no"), h("td", {}, lastRun(t.last_run)), h("td", {}, when(t.next_run_at)),
        h("td", {}, can("operator") ? h("button", { type: "button", class: "run-now", onclick: (e) => startRun("/api/v1/tasks/" + t.id + "/runs", e.target) }, "Run now") : null))))));
}

let typesCache = null;
async function taskTypes() {
  if (!typesCache) {
    const r = await api("GET", "/api/v1/task-types");
    typesCache = Object.fromEntries(r.items.map((t) => [t.name, t]));
  }
  return typesCache;
}

// A task's page: what it is, Run now, Test connection where the type has one, Edit, Delete,
// and its latest runs.
async function taskPage(id) {
  const base = "/api/v1/tasks/" + encodeURIComponent(id);
  const [t, types, runs] = await Promise.all([api("GET", base), taskTypes(), api("GET", "/api/v1/runs?limit=10&task_id=" + encodeURIComponent(id))]);
  const type = types[t.type] || { title: t.type, description: "" };
  const test = async (e) => {
    e.target.disabled = true;
    try {
      const r = await api("POST", base + "/test-connection");
      const extra = (r.base_dns || []).filter((b) => !b.exists).map((b) => b.base_dn + ": " + (b.error || "missing"));
      toast((r.ok ? "Connection works: " : "Connection failed: ") + r.message + (extra.length ? " — " + extra.join("; ") : "") + " (" + r.duration_ms + " ms)", !r.ok);
    } catch (x) { toast(x.message, true); }
    e.target.disabled = false;
  };
  const del = async (e) => {
    if (!confirm("Delete the task " + t.name + " and its schedule? Its run history stays.")) return;
    e.target.disabled = true;
    try { await api("DELETE", base); toast("Deleted " + t.name + "."); location.hash = "#/tasks"; } catch (x) { e.target.disabled = false; toast(x.message, true); }
  };
  page(t.name,
    h("dl", { class: "kv" },
      h("dt", {}, "Type"), h("dd", {}, type.title, h("div", { class: "muted" }, type.description)),
      t.description ? [h("dt", {}, "Description"), h("dd", {}, t.description)] : null,
      h("dt", {}, "Schedule"), h("dd", {}, t.schedule ? t.schedule + " (" + t.timezone + ")" + (t.enabled ? "" : " — paused") : "none (runs only when started)"),
      h("dt", {}, "Next run"), h("dd", {}, when(t.next_run_at)),
      h("dt", {}, "Last run"), h("dd", {}, lastRun(t.last_run)),
      h("dt", {}, "Overlap"), h("dd", {}, t.overlap_policy + " · at most " + duration(t.max_duration_seconds * 1000) + " · " + t.max_attempts + " attempts")),
    h("div", { class: "actions bar-actions" },
      can("operator") ? h("button", { type: "button", class: "run-now", onclick: (e) => startRun(base + "/runs", e.target) }, "Run now") : null,
      can("operator") && type.test_connection ? h("button", { type: "button", class: "secondary", id: "test-connection", onclick: test }, "Test connection") : null,
      can("admin") ? h("a", { class: "button secondary", href: "#/tasks/" + t.id + "/edit", id: "edit-task" }, "Edit") : null,
      can("admin") ? h("button", { type: "button", class: "secondary danger", id: "delete-task", onclick: del }, "Delete") : null),
    h("h2", {}, "Configuration"), h("pre", { id: "task-config" }, JSON.stringify(t.config, null, 2)),
    h("h2", {}, "Latest runs"),
    runs.items.length ? runsTable(runs.items) : h("p", { class: "muted" }, "No runs yet."),
    runs.next_cursor ? h("p", {}, h("a", { href: "#/runs?task_id=" + t.id }, "All runs →")) : null);
}

// The new-task page: first the type, then its form.
async function newTaskPage(params) {
  const types = await taskTypes();
  const name = params.get("type");
  if (name && types[name]) return taskFormPage(null, types[name]);
  page("New task", h("p", { class: "muted" }, "Choose what the task does."),
    h("ul", { class: "types" }, Object.values(types).map((t) => h("li", {},
      h("a", { href: "#/tasks/new?type=" + t.name, "data-type": t.name }, t.title), h("div", { class: "muted" }, t.description)))));
}

async function editTaskPage(id) {
  const [t, types] = await Promise.all([api("GET", "/api/v1/tasks/" + encodeURIComponent(id)), taskTypes()]);
  return taskFormPage(t, types[t.type]);
}

// specForm is a create or edit form of fields built from a schema: send(body) stores it and
// returns where to go next; the API's field errors are shown next to their inputs.
function specForm(id, ctx, nodes, read, send, saveLabel, cancel) {
  const form = h("form", { class: "edit wide", id, novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    ctx.errors = [];
    const body = read();
    if (ctx.errors.length) return showErrors(form, { body: { fields: ctx.errors } });
    const save = form.querySelector("#save");
    save.disabled = true;
    try {
      location.hash = await send(body);
    } catch (x) { save.disabled = false; showErrors(form, x); }
  } },
  nodes, ctx.datalists,
  h("div", { class: "actions" }, h("button", { type: "submit", id: "save" }, saveLabel), h("a", { href: cancel }, "Cancel")));
  return form;
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;

// taskFormPage is the create or edit form of a task of type: the task's own fields from the
// TaskSpec schema, and its config from the type's config_schema.
async function taskFormPage(task, type) {
  const doc = await openapi();
  const ctx = newContext();
  const top = objectFields(doc, ctx, doc.components.schemas.TaskSpec, "", task || { timezone: browserZone(), enabled: true }, ["type", "config"]);
  const cfg = objectFields(doc, ctx, doc.components.schemas[type.config_schema], "config", (task && task.config) || {});
  const read = () => Object.assign({ type: type.name }, top.read() || {}, { config: cfg.read() || {} });
  const send = async (body) => {
    const t = await api(task ? "PUT" : "POST", task ? "/api/v1/tasks/" + task.id : "/api/v1/tasks", body);
    toast((task ? "Saved " : "Created ") + t.name + ".");
    return "#/tasks/" + t.id;
  };
  page(task ? "Edit " + task.name : "New task: " + type.title, specForm("task-form", ctx,
    [h("p", { class: "muted" }, type.description), top.nodes, h("fieldset", { class: "config" }, h("legend", {}, type.title + " settings"), cfg.nodes)],
    read, send, task ? "Save" : "Create task", task ? "#/tasks/" + task.id : "#/tasks/new"));
}

// ---- connectors ----
// health shows an operation's last run: status, when and how long, linked to the run.
function health(r) {
  return r ? [status(r.status), " ", h("a", { href: "#/runs/" + r.id }, when(r.started_at)), r.duration_ms !== null ? " · " + duration(r.duration_ms) : ""] : "never";
}

async function connectorsPage() {
  const conns = await api("GET", "/api/v1/connectors");
  page("Connectors", can("admin") ? h("p", {}, h("a", { class: "button", href: "#/connectors/new", id: "new-connector" }, "New connector")) : null,
    conns.items.length === 0 ? h("p", { class: "muted" }, "No connectors yet.") :
    h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Tool", "Server", "Last Discover", "Last Sync", "Next", "Enabled", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, conns.items.map((c) => h("tr", { "data-connector": c.name },
        h("td", {}, h("a", { href: "#/connectors/" + c.id }, c.name)), h("td", {}, c.tool_type), h("td", {}, c.base_url),
        h("td", { class: "last-discover" }, health(c.last_discover)), h("td", { class: "last-sync" }, health(c.last_sync)),
        h("td", {}, c.next_discover_at || c.next_sync_at ? [c.next_discover_at ? h("div", {}, "discover " + when(c.next_discover_at)) : null,
          c.next_sync_at ? h("div", {}, "sync " + when(c.next_sync_at)) : null] : "—"),
        h("td", {}, c.enabled ? "yes" : "no"),
        h("td", {}, can("operator") ? h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary discover", onclick: (e) => startRun("/api/v1/connectors/" + c.id + "/discover", e.target) }, "Discover"),
          h("button", { type: "button", class: "secondary sync", onclick: (e) => startRun("/api/v1/connectors/" + c.id + "/sync", e.target) }, "Sync")) : null))))));
}

// connectorFormPage creates a connector, or edits the one with id (its tool cannot change;
// its password is write-only: left empty, the stored one is kept).
async function connectorFormPage(id) {
  const doc = await openapi();
  const c = id ? await api("GET", "/api/v1/connectors/" + encodeURIComponent(id)) : null;
  const ctx = newContext();
  const fields = objectFields(doc, ctx, doc.components.schemas.ConnectorSpec, "", c || { timezone: browserZone(), enabled: true }, c ? ["tool_type"] : []);
  const read = () => Object.assign(fields.read() || {}, c ? { tool_type: c.tool_type } : {});
  const send = async (body) => {
    const saved = await api(c ? "PUT" : "POST", c ? "/api/v1/connectors/" + c.id : "/api/v1/connectors", body);
    toast((c ? "Saved " : "Created ") + saved.name + ".");
    return "#/connectors/" + saved.id;
  };
  page(c ? "Edit " + c.name : "New connector", specForm("connector-form", ctx, fields.nodes, read, send,
    c ? "Save" : "Create connector", c ? "#/connectors/" + c.id : "#/connectors"));
}

async function connectorPage(id) {
  const base = "/api/v1/connectors/" + encodeURIComponent(id);
  const [c, recs, ops, products] = await Promise.all([api("GET", base), api("GET", base + "/records?limit=200"), api("GET", base + "/operations?limit=20"),
    api("GET", "/api/v1/products?limit=200")]);
  // Map picks an existing product by name or creates one with a new name.
  const productList = h("datalist", { id: "products" }, products.items.map((p) => h("option", { value: p.name })));
  const recAction = (r, what, body) => async (e) => {
    e.target.disabled = true;
    try { await api("POST", base + "/records/" + r.id + "/" + what, body ? body() : undefined); route(); } catch (x) { e.target.disabled = false; toast(x.message, true); }
  };
  const recordRow = (r) => {
    const product = h("input", { name: "product_name", list: "products", "aria-label": "Product for " + r.name + " (pick one or type a new name)", value: r.product_name || r.name, size: 18 });
    return h("tr", { "data-record": r.name },
      h("td", {}, r.name, r.vendor_missing ? h("span", { class: "error" }, " (gone from the tool)") : null),
      h("td", {}, r.state), h("td", {}, r.product_name || "—"),
      h("td", {}, when(r.first_seen_at)), h("td", {}, when(r.last_seen_at)),
      h("td", {}, r.last_sync_status ? [status(r.last_sync_status), r.last_sync_error ? h("div", { class: "error" }, r.last_sync_error) : null] : "—",
        r.state === "mapped" ? h("div", {}, h("a", { href: "#/findings?record_id=" + r.id }, "findings")) : null),
      h("td", {}, can("admin") ? h("div", { class: "actions" },
        r.state !== "mapped" ? [product, h("button", { type: "button", class: "map", onclick: recAction(r, "map", () => ({ product_name: product.value.trim() })) }, "Map")] : null,
        r.state !== "ignored" ? h("button", { type: "button", class: "secondary ignore", onclick: recAction(r, "ignore") }, "Ignore") : null,
        r.state !== "unmapped" ? h("button", { type: "button", class: "secondary unmap", onclick: recAction(r, "unmap") }, "Unmap") : null) : null));
  };
  const test = async (e) => {
    e.target.disabled = true;
    try {
      const r = await api("POST", base + "/test-connection");
      toast((r.ok ? "Connection works: " : "Connection failed: ") + r.message + " (" + r.duration_ms + " ms)", !r.ok);
    } catch (x) { toast(x.message, true); }
    e.target.disabled = false;
  };
  const del = async (e) => {
    if (!confirm("Delete the connector " + c.name + " with its records, tests and findings? Run history and products stay.")) return;
    e.target.disabled = true;
    try { await api("DELETE", base); toast("Deleted " + c.name + "."); location.hash = "#/connectors"; } catch (x) { e.target.disabled = false; toast(x.message, true); }
  };
  page(c.name,
    h("dl", { class: "kv" }, h("dt", {}, "Tool"), h("dd", {}, c.tool_type), h("dt", {}, "Server"), h("dd", {}, c.base_url),
      c.description ? [h("dt", {}, "Description"), h("dd", {}, c.description)] : null,
      h("dt", {}, "Username"), h("dd", {}, c.config.username + (c.config.password_set ? " (password stored)" : " (no password)")),
      h("dt", {}, "Schedules"), h("dd", {}, "discover " + (c.discover_schedule || "—") + " · sync " + (c.sync_schedule || "—") + " (" + c.timezone + ")"),
      h("dt", {}, "Last Discover"), h("dd", {}, health(c.last_discover)), h("dt", {}, "Last Sync"), h("dd", {}, health(c.last_sync)),
      h("dt", {}, "Enabled"), h("dd", {}, c.enabled ? "yes" : "no")),
    h("div", { class: "actions bar-actions" },
      can("operator") ? [h("button", { type: "button", class: "discover", onclick: (e) => startRun(base + "/discover", e.target) }, "Discover"),
        h("button", { type: "button", class: "sync", onclick: (e) => startRun(base + "/sync", e.target) }, "Sync"),
        h("button", { type: "button", class: "secondary", id: "test-connection", onclick: test }, "Test connection")] : null,
      can("admin") ? [h("a", { class: "button secondary", href: "#/connectors/" + c.id + "/edit", id: "edit-connector" }, "Edit"),
        h("button", { type: "button", class: "secondary danger", id: "delete-connector", onclick: del }, "Delete")] : null),
    h("h2", {}, "Records"), productList,
    recs.items.length === 0 ? h("p", { class: "muted" }, "No records yet: run Discover.") :
      h("table", { id: "records" }, h("thead", {}, h("tr", {}, ["Record", "State", "Product", "First discovered", "Last discovered", "Last sync", ""].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, recs.items.map(recordRow))),
    h("h2", {}, "Operations"),
    ops.items.length === 0 ? h("p", { class: "muted" }, "No operations yet.") : runsTable(ops.items),
    ops.next_cursor ? h("p", {}, h("a", { href: "#/runs?connector_id=" + c.id }, "All operations →")) : null);
}

// ---- findings ----
async function findingsPage(params) {
  const q = new URLSearchParams(params);
  if (!q.has("limit")) q.set("limit", "100");
  const list = await api("GET", "/api/v1/findings?" + q.toString());
  page("Findings", filterForm("findings", params, [
    ["Severity", "severity", ["Critical", "High", "Medium", "Low", "Info"]],
    ["Active", "active", ["true", "false"]],
    ["Known exploited", "known_exploited", ["true"]]], ["record_id", "product_id", "test_id"]),
  list.items.length === 0 ? h("p", { class: "muted" }, "No findings match.") :
    h("table", { id: "findings" }, h("thead", {}, h("tr", {}, ["Severity", "Title", "Host", "CVEs", "Active", "First seen", "Last seen"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.items.map((f) => h("tr", {},
        h("td", {}, h("span", { class: "sev " + f.severity }, f.severity)), h("td", {}, h("a", { href: "#/findings/" + f.id }, f.title), f.known_exploited ? h("span", { class: "error" }, " · known exploited") : null),
        h("td", {}, [f.host, f.ip].filter(Boolean).join(" · ") + (f.port ? ":" + f.port : "")), h("td", {}, (f.cves || []).join(", ") || "—"),
        h("td", {}, f.active ? "yes" : "no"), h("td", {}, when(f.first_seen)), h("td", {}, when(f.last_seen)))))),
  nextLink("findings", params, list.next_cursor, "More →"));
}

// ---- data ----
// table renders items as rows of cells (rowFn gives one row's cells); id names the table.
function table(id, headers, items, rowFn, empty) {
  if (!items.length) return h("p", { class: "muted" }, empty || "Nothing matches.");
  return h("table", { id }, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((it) => h("tr", {}, rowFn(it).map((c) => h("td", {}, c))))));
}
const kv = (pairs) => h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === "" || v === null || v === undefined ? "—" : v)]));
const sev = (s) => (s ? h("span", { class: "sev " + s }, s) : "—");
const listOf = (a) => (a && a.length ? a.join(", ") : "—");

async function findingPage(id) {
  const base = "/api/v1/findings/" + encodeURIComponent(id);
  const [f, hist] = await Promise.all([api("GET", base), api("GET", base + "/history")]);
  page(f.title,
    kv([["Severity", sev(f.severity)], ["Status", f.status + (f.active ? " (active)" : "")], ["Vendor", f.vendor_id + " · " + f.vendor_severity + (f.vendor_status ? " · " + f.vendor_status : "")],
      ["CVEs", listOf(f.cves)], ["Host", [f.host, f.ip].filter(Boolean).join(" · ") + (f.port ? ":" + f.port + "/" + f.protocol : "")],
      f.asset_id ? ["Asset", h("a", { href: "#/assets/" + f.asset_id }, "the shared asset")] : null,
      ["First seen", when(f.first_seen)], ["Last seen", when(f.last_seen)], ["Times found", f.times_found], ["Known exploited", f.known_exploited ? "yes (CISA KEV)" : "no"],
      ["Record", h("a", { href: "#/findings?record_id=" + f.record_id }, "findings of the record")]]),
    h("h2", {}, "History across imports"),
    table("finding-history", ["When", "What the import did", "Run"], hist.items, (a) => [when(a.applied_at), a.action, h("a", { href: "#/runs/" + a.run_id }, "run")], "No imports recorded."),
    f.description ? [h("h2", {}, "Description"), h("p", { class: "prose" }, f.description)] : null,
    f.solution ? [h("h2", {}, "Solution"), h("p", { class: "prose" }, f.solution)] : null,
    f.evidence ? [h("h2", {}, "Evidence"), h("pre", {}, f.evidence)] : null);
}

async function assetsPage(params) {
  const list = await api("GET", "/api/v1/assets?" + params.toString());
  page("Assets", filterForm("assets", params, [["Search", "q", "text"], ["Status", "status", ["active", "retired"]], ["Source", "source", ["ldap", "qualys", "nexpose", "xml"]]], []),
    table("assets", ["Name", "Type", "Address", "OS", "Sources", "Relevance", "Open occurrences", "Risk", "Last seen"], list.items, (a) => [
      h("a", { href: "#/assets/" + a.id }, a.name), a.type, a.host_address || listOf(a.ip_addresses), [a.os, a.os_version].filter(Boolean).join(" ") || "—",
      listOf(a.sources), a.relevance, a.open_occurrences, a.risk_score, when(a.last_seen_at)], "No assets match."),
    nextLink("assets", params, list.next_cursor, "More →"));
}

function occurrencesTable(items) {
  return table("occurrences", ["Vulnerability", "Level", "Asset", "Port", "Status", "Tickets", "First found", "Last found"], items, (o) => [
    [h("a", { href: "#/vulnerabilities/" + o.vulnerability_id }, o.title), o.known_exploited ? h("span", { class: "error" }, " · known exploited") : null],
    o.level ?? "—", h("a", { href: "#/assets/" + o.asset_id }, o.asset_name), o.port ? o.port + "/" + o.protocol : "—", o.status,
    listOf(o.tickets), when(o.first_found), when(o.last_found)], "No occurrences.");
}

async function assetPage(id) {
  const base = "/api/v1/assets/" + encodeURIComponent(id);
  const [a, occ, evs] = await Promise.all([api("GET", base), api("GET", base + "/occurrences?limit=100"), api("GET", "/api/v1/events?limit=20&asset_id=" + encodeURIComponent(id))]);
  page(a.name,
    kv([["Type", a.type], ["Status", a.status], ["Address", a.host_address], ["FQDN / host name", [a.fqdn, a.hostname].filter(Boolean).join(" · ")],
      ["IP addresses", listOf(a.ip_addresses)], ["OS", [a.os, a.os_version].filter(Boolean).join(" ")], ["Relevance", a.relevance],
      ["Criticality", a.criticality], ["Responsible", a.responsible], ["Sources", listOf(a.sources)], ["Identity", a.identity_key],
      ["Risk score", a.risk_score], ["Active findings", a.active_findings ? h("a", { href: "#/findings?asset_id=" + a.id }, String(a.active_findings)) : "0"],
      ["Edited here", listOf(a.edited_fields)], ["First seen", when(a.first_seen_at)], ["Last seen", when(a.last_seen_at)]]),
    h("h2", {}, "Occurrences"), occurrencesTable(occ.items),
    occ.next_cursor ? h("p", { class: "muted" }, "Showing the first 100.") : null,
    h("h2", {}, "Events"), eventsTable(evs.items));
}

async function vulnerabilitiesPage(params) {
  const list = await api("GET", "/api/v1/vulnerabilities?" + params.toString());
  page("Vulnerabilities", filterForm("vulnerabilities", params, [["Search", "q", "text"], ["CVE", "cve", "text"], ["Source", "source", ["qualys", "nexpose", "xml"]],
    ["Severity", "severity", ["Critical", "High", "Medium", "Low", "Info"]], ["Known exploited", "known_exploited", ["true", "false"]]], []),
  table("vulnerabilities", ["Severity", "Title", "Vendor ID", "Source", "CVEs", "Open occurrences"], list.items, (v) => [
    sev(v.severity), [h("a", { href: "#/vulnerabilities/" + v.id }, v.title), v.known_exploited ? h("span", { class: "error" }, " · known exploited") : null],
    v.vendor_id, v.source, listOf(v.cves), v.open_occurrences], "No vulnerabilities match."),
  nextLink("vulnerabilities", params, list.next_cursor, "More →"));
}

async function vulnerabilityPage(id) {
  const base = "/api/v1/vulnerabilities/" + encodeURIComponent(id);
  const [v, occ] = await Promise.all([api("GET", base), api("GET", base + "/occurrences?limit=100")]);
  const kev = v.known_exploited;
  page(v.title,
    kv([["Severity", sev(v.severity)], ["Level", v.level], ["Vendor", v.source + " " + v.vendor_id + (v.vendor_severity ? " · " + v.vendor_severity : "")], ["Scope", v.scope],
      ["CVEs", listOf(v.cves)], ["Known exploited", kev ? "since " + kev.date_added + (kev.due_date ? ", due " + kev.due_date : "") + (kev.known_ransomware_use ? ", used by ransomware" : "") : "no"],
      v.nvd ? ["NVD", v.nvd.cve_id + " · " + (v.nvd.score ?? "no score") + " " + v.nvd.severity] : null]),
    v.description ? [h("h2", {}, "Description"), h("p", { class: "prose" }, v.description)] : null,
    v.solution ? [h("h2", {}, "Solution"), h("p", { class: "prose" }, v.solution)] : null,
    h("h2", {}, "Occurrences"), occurrencesTable(occ.items));
}

function eventsTable(items) {
  return table("events", ["Priority", "Title", "Type", "Status", "Progress", "Responsible", "Occurrences", "Updated"], items, (e) => [
    e.priority, h("a", { href: "#/events/" + e.id }, e.title), e.type, e.status, h("progress", { max: 100, value: e.progress, title: e.progress + "%" }),
    e.responsible, e.resolved_occurrences + " of " + e.occurrences + " resolved", when(e.updated_at)], "No events.");
}

async function eventsPage(params) {
  const list = await api("GET", "/api/v1/events?" + params.toString());
  page("Events", filterForm("events", params, [["Status", "status", ["open", "closed", "cancelled"]], ["Responsible", "responsible", "text"]], ["type", "asset_id"]),
    eventsTable(list.items), nextLink("events", params, list.next_cursor, "More →"));
}

async function eventPage(id) {
  const base = "/api/v1/events/" + encodeURIComponent(id);
  const [e, prog, hist, doc] = await Promise.all([api("GET", base), api("GET", base + "/progress?limit=100"), api("GET", base + "/history?limit=100"), openapi()]);
  const act = (what) => async (ev) => {
    ev.target.disabled = true;
    try { await api("POST", base + "/" + what, {}); route(); } catch (x) { ev.target.disabled = false; toast(x.message, true); }
  };
  let form = null;
  if (can("operator")) {
    const ctx = newContext();
    const fields = objectFields(doc, ctx, doc.components.schemas.EventProgressCreate, "", {}, ["at"]);
    form = specForm("progress-form", ctx, fields.nodes, () => fields.read() || {},
      async (body) => { await api("POST", base + "/progress", body); toast("Progress recorded."); route(); return location.hash; }, "Add progress", "#/events/" + e.id);
  }
  page(e.title,
    kv([["Status", e.status], ["Progress", h("span", {}, h("progress", { max: 100, value: e.progress }), " " + e.progress + "%")],
      ["Priority", e.priority + " (urgency " + e.urgency + " × severity " + e.severity + " × relevance " + e.relevance + ")"],
      ["Type", e.type], ["Responsible", e.responsible], ["Created", when(e.created_at) + " by " + e.created_by], ["Closed", when(e.closed_at)],
      e.parent_id ? ["Parent", h("a", { href: "#/events/" + e.parent_id }, "event " + e.parent_id)] : null,
      ["Occurrences", e.resolved_occurrences + " of " + e.occurrences + " resolved"]]),
    can("operator") ? h("div", { class: "actions bar-actions" },
      e.status === "open" ? [h("button", { type: "button", id: "close-event", onclick: act("close") }, "Close"),
        h("button", { type: "button", class: "secondary", onclick: act("cancel") }, "Cancel event")] :
        h("button", { type: "button", class: "secondary", id: "reopen-event", onclick: act("reopen") }, "Reopen")) : null,
    e.description ? h("p", { class: "prose" }, e.description) : null,
    h("h2", {}, "Occurrences treated"),
    table("event-occurrences", ["Vulnerability", "Asset", "Port", "Status", "Resolved", "Tickets"], e.occurrence_list, (o) => [
      h("a", { href: "#/vulnerabilities/" + o.vulnerability_id }, o.title), h("a", { href: "#/assets/" + o.asset_id }, o.asset_name),
      o.port ?? "—", o.status || "deleted", o.resolved_at ? when(o.resolved_at) + (o.resolved_by ? " by " + o.resolved_by : "") : "—", listOf(o.tickets)], "None."),
    h("h2", {}, "Progress"),
    table("event-progress", ["When", "Who", "Progress", "Text"], prog.items, (p) => [when(p.at), p.author + (p.author_kind === "task" ? " (task)" : ""),
      p.progress === null ? "—" : p.progress + "%", p.text], "No progress entries yet."),
    form,
    h("h2", {}, "History"),
    table("event-history", ["When", "Who", "What", "Changes"], hist.items, (c) => [when(c.at), c.actor, c.action,
      Object.entries(c.changes || {}).map(([k, v]) => k + ": " + (Array.isArray(v) ? v.map((x) => (x === null ? "—" : x)).join(" → ") : JSON.stringify(v))).join("; ") || "—"]));
}

// ---- admin ----
async function tokensPage() {
  const [list, doc] = await Promise.all([api("GET", "/api/v1/tokens"), openapi()]);
  const ctx = newContext();
  const fields = objectFields(doc, ctx, doc.components.schemas.TokenRequest, "", { role: "viewer" });
  const revoke = (t) => async (e) => {
    if (!confirm("Revoke the token " + t.name + "? Whoever uses it is signed out at once.")) return;
    e.target.disabled = true;
    try { await api("DELETE", "/api/v1/tokens/" + t.id); route(); } catch (x) { e.target.disabled = false; toast(x.message, true); }
  };
  const shown = h("div", { id: "new-token" });
  const form = specForm("token-form", ctx, fields.nodes, () => fields.read() || {}, async (body) => {
    const t = await api("POST", "/api/v1/tokens", body);
    await route();
    document.getElementById("new-token").replaceChildren(h("p", { class: "secret" }, "The token of " + t.name + " (shown once; copy it now): ", h("code", { id: "token-secret" }, t.token)));
    return location.hash;
  }, "Create token", "#/tokens");
  page("API tokens",
    shown,
    table("tokens", ["Name", "Role", "Prefix", "Created", "Expires", "Last used", "Revoked", ""], list.items, (t) => [t.name, t.role, h("code", {}, t.prefix),
      when(t.created_at) + " by " + t.created_by, when(t.expires_at), when(t.last_used_at), when(t.revoked_at),
      t.revoked_at ? "" : h("button", { type: "button", class: "secondary danger revoke", "data-name": t.name, onclick: revoke(t) }, "Revoke")], "No tokens."),
    h("h2", {}, "New token"), form);
}

async function auditPage(params) {
  const list = await api("GET", "/api/v1/audit?" + params.toString());
  page("Audit trail", filterForm("audit", params, [["Who", "actor", "text"]], []), table("audit", ["When", "Who", "From", "Request", "Status", "What"], list.items, (a) => [when(a.at), a.actor, a.remote_addr,
    a.method + " " + a.route + (a.resource_id ? " · " + a.resource_id : ""), a.status, a.summary], "Nothing recorded."),
  nextLink("audit", params, list.next_cursor, "Older →"));
}

// ---- routing ----
// One page is built at a time: a hash change while a page loads is taken up once it is done,
// so a slow page never replaces a later one.
let routing = null, again = false;
async function route() {
  if (routing) { again = true; return; }
  routing = (async () => { do { again = false; await routeOnce(); } while (again); })();
  try { await routing; } finally { routing = null; }
}

async function routeOnce() {
  clearTimeout(state.timer);
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  if (path === "/login") return loginPage();
  if (!state.me) {
    try { signedIn(await api("GET", "/api/v1/session")); } catch { return loginPage(); }
  }
  for (const a of document.querySelectorAll("header nav a")) {
    const target = a.getAttribute("href").slice(1);
    a.classList.toggle("active", target === "/" ? path === "/" : path.startsWith(target));
  }
  try {
    if (path === "/") await overviewPage();
    else if (path === "/runs") await runsPage(params);
    else if (path.startsWith("/runs/")) await runPage(path.slice(6));
    else if (path === "/tasks") await tasksPage(params);
    else if (path === "/tasks/new") await newTaskPage(params);
    else if (/^\/tasks\/[^/]+\/edit$/.test(path)) await editTaskPage(path.split("/")[2]);
    else if (path.startsWith("/tasks/")) await taskPage(path.slice(7));
    else if (path === "/connectors") await connectorsPage();
    else if (path === "/connectors/new") await connectorFormPage();
    else if (/^\/connectors\/[^/]+\/edit$/.test(path)) await connectorFormPage(path.split("/")[2]);
    else if (path.startsWith("/connectors/")) await connectorPage(path.slice(12));
    else if (path === "/findings") await findingsPage(params);
    else if (path.startsWith("/findings/")) await findingPage(path.slice(10));
    else if (path === "/assets") await assetsPage(params);
    else if (path.startsWith("/assets/")) await assetPage(path.slice(8));
    else if (path === "/vulnerabilities") await vulnerabilitiesPage(params);
    else if (path.startsWith("/vulnerabilities/")) await vulnerabilityPage(path.slice(17));
    else if (path === "/events") await eventsPage(params);
    else if (path.startsWith("/events/")) await eventPage(path.slice(8));
    else if (path === "/tokens") await tokensPage();
    else if (path === "/audit") await auditPage(params);
    else page("Not found", h("p", {}, "No such page."));
  } catch (x) {
    if (x.status !== 401) failed(x);
  }
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch { /* signed out anyway */ }
  state.me = null;
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
