// Shared helpers of the console: building elements, calling the API, showing errors.

export const state = { me: null, csrf: "", timer: null };
const roles = { viewer: 1, operator: 2, admin: 3 };
export const can = (role) => state.me && roles[state.me.role] >= roles[role];

// h builds an element: h("a", {href: "#/"}, "text", child…). Attributes starting with "on"
// are listeners; other values are set as attributes; children are strings or nodes.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
export function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  return s < 120 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min";
}
export function status(s) { return h("span", { class: "status " + s }, s); }
export function counts(c) { return Object.entries(c || {}).map(([k, v]) => k + " " + v).join(", ") || "—"; }

export function toast(msg, bad, link) {
  const el = h("div", { class: bad ? "bad" : "" }, msg, link ? [" ", link] : []);
  document.getElementById("toast").append(el);
  setTimeout(() => el.remove(), 8000);
}

// showErrors puts the API's field errors next to the inputs they name (an input's name is
// the API's field path, such as "config.username"); an error about a part of a field
// (config.ip_ranges[2], config.mapping.fields[0].xpath) goes to the nearest field there is;
// the rest go above the form. The first field with an error gets the focus.
export function showErrors(form, err) {
  for (const el of form.querySelectorAll(".field-error")) el.closest(".errors") ? el.closest(".errors").remove() : el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const fields = (err.body && err.body.fields) || [];
  const general = [];
  let first = null;
  for (const f of fields) {
    let input = null;
    for (let p = f.field; p && !input; p = p.replace(/(\[\d+\]|\.[^.[\]]+|^[^.[\]]+)$/, "")) {
      input = form.querySelector(`[name="${CSS.escape(p)}"]`);
    }
    const msg = h("span", { class: "field-error", role: "alert" }, f.field + " " + f.message);
    if (input) {
      (input.closest("label, .field") || input.parentElement).append(msg);
      input.setAttribute("aria-invalid", "true");
      for (let d = input.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
      first = first || input;
    } else general.push(msg);
  }
  if (!fields.length) general.push(h("span", { class: "field-error", role: "alert" }, err.message));
  if (general.length) form.prepend(h("div", { class: "errors" }, general.map((m) => h("p", {}, m))));
  if (first && first.type !== "hidden") first.focus();
  else if (first) first.closest("fieldset, .field").scrollIntoView({ block: "center" });
}

export class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || "HTTP " + status);
    this.status = status;
    this.body = body && body.error;
  }
}

export async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = state.csrf;
  if (body instanceof Blob) { // a file, sent as it is
    opts.headers["Content-Type"] = /xml/.test(body.type) ? body.type : "application/octet-stream";
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (resp.status === 401 && path !== "/api/v1/session") {
    state.me = null;
    location.hash = "#/login";
    throw new APIError(401, data);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

export function page(title, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...content.flat().filter((c) => c !== null && c !== undefined && c !== false));
  document.title = title + " · Tributary";
}

export function failed(err) {
  page("Something went wrong", h("p", { class: "error" }, err.message));
}

