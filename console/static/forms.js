// Forms built from the API's own description (GET /api/v1/openapi.json): a task type names
// the schema of its config (config_schema), and every field of the form comes from that
// schema: its type, enum, bounds, default, description, writeOnly secrets, nested objects and
// lists, and the x- hints (x-multiline, x-options, x-upload). A new task type therefore needs
// no console change. Each input's name is the API's field path (config.users.base_dn,
// config.headers[0].name), so the API's field errors land next to their inputs.

import { h, api } from "./lib.js";

let docPromise = null;
export function openapi() {
  return docPromise || (docPromise = api("GET", "/api/v1/openapi.json").catch((x) => { docPromise = null; throw x; }));
}

// resolve follows $ref and a lone allOf to the schema they name.
export function resolve(doc, s) {
  for (let i = 0; s && i < 20; i++) {
    if (s.$ref) s = doc.components.schemas[s.$ref.split("/").pop()];
    else if (s.allOf && s.allOf.length === 1) {
      const { allOf, ...rest } = s;
      s = Object.assign({}, resolve(doc, allOf[0]), rest);
    } else return s;
  }
  return s;
}

const scalar = (s) => s && (s.type === "string" || s.type === "integer" || s.type === "number" || s.type === "boolean");
const strList = (s) => s && s.type === "array" && s.items && (s.items.type === "string" || s.items.type === "integer");

function kind(doc, s) {
  if (s.type === "boolean") return "bool";
  if (s.type === "string" && s.enum) return "enum";
  if (s.type === "string") return "string";
  if (s.type === "integer" || s.type === "number") return "number";
  if (s.type === "array") {
    const it = resolve(doc, s.items || {});
    if (it.type === "string" && it.enum) return "choices";
    if (it.type === "string") return "lines";
    if (it.type === "integer" || it.type === "number") return "numbers";
    if (it.type === "object" && it.properties && Object.values(it.properties).every((p) => {
      const r = resolve(doc, p);
      return r.readOnly || scalar(r) || strList(r);
    })) return "rows";
    return "json";
  }
  if (s.type === "object" && s.properties && !s.additionalProperties) return "object";
  return "json";
}

export function label(name) {
  const t = name.replace(/_/g, " ").replace(/\burl\b/g, "URL").replace(/\burls\b/g, "URLs").replace(/\bdn\b/g, "DN")
    .replace(/\bid\b/g, "ID").replace(/\bip\b/g, "IP").replace(/\bhttp\b/g, "HTTP").replace(/\bsql\b/g, "SQL")
    .replace(/\btls\b/g, "TLS").replace(/\bca\b/g, "CA").replace(/\bapi\b/g, "API").replace(/\bfqdn\b/g, "FQDN")
    .replace(/\bos\b/g, "OS").replace(/\bldap\b/g, "LDAP");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

const idOf = (path) => "f-" + path.replace(/[^A-Za-z0-9_-]/g, "-");

// asNumber sends what looks like a number as one, and anything else as typed, so that the
// API answers with the field's error rather than the console guessing.
function asNumber(v) {
  v = v.trim();
  if (v === "") return undefined;
  return /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}

// Lists of suggestions (x-options) are fetched once per form.
function suggestions(ctx, opt) {
  const key = opt.path + "|" + opt.value;
  if (!ctx.lists[key]) {
    const id = "dl-" + Object.keys(ctx.lists).length;
    const dl = h("datalist", { id });
    ctx.datalists.append(dl);
    ctx.lists[key] = id;
    api("GET", opt.path).then((r) => {
      for (const it of (r.items || [])) dl.append(h("option", { value: it[opt.value] }, it.title || it.name || it[opt.value]));
    }).catch(() => { /* suggestions only */ });
  }
  return ctx.lists[key];
}

function hint(s) {
  const bits = [];
  if (s.description) bits.push(s.description);
  if (s.default !== undefined && typeof s.default !== "object") bits.push("Default: " + s.default + ".");
  if (s.minimum !== undefined || s.maximum !== undefined) bits.push("From " + (s.minimum ?? "…") + " to " + (s.maximum ?? "…") + ".");
  return bits.length ? h("small", { class: "hint" }, bits.join(" ")) : null;
}

// field builds the input(s) for one property; it returns {node, read} where read() gives the
// value to send (undefined: leave it out, so the API's default applies).
function field(doc, ctx, name, s, path, value, parent, required) {
  s = resolve(doc, s);
  const id = idOf(path);
  const title = label(name) + (required ? " *" : "");
  const k = kind(doc, s);
  const wrap = (input, extra) => h("div", { class: "field" }, h("label", { for: id }, title), input, extra || null, hint(s));
  switch (k) {
    case "bool": {
      const input = h("input", { type: "checkbox", id, name: path, checked: value !== undefined ? !!value : s.default === true });
      return { node: h("div", { class: "field" }, h("label", { class: "check" }, input, label(name)), hint(s)), read: () => input.checked };
    }
    case "enum": {
      const input = h("select", { id, name: path },
        required ? null : h("option", { value: "" }, s.default !== undefined ? "default (" + s.default + ")" : "—"),
        s.enum.map((v) => h("option", { value: v, selected: value === v }, v)));
      return { node: wrap(input), read: () => input.value || undefined };
    }
    case "string": {
      const secretSet = s.writeOnly && parent && parent[name + "_set"];
      const attrs = { id, name: path, value: s.writeOnly ? undefined : value, maxlength: s.maxLength, autocomplete: s.writeOnly ? "new-password" : "off",
        placeholder: secretSet ? "stored — leave empty to keep it" : (s.example || (s.default !== undefined ? String(s.default) : undefined)) };
      let input;
      if (s["x-multiline"]) {
        input = h("textarea", Object.assign(attrs, { rows: 6, value: undefined }), value || "");
      } else {
        input = h("input", Object.assign(attrs, { type: s.writeOnly ? "password" : "text" }));
        if (s["x-options"]) input.setAttribute("list", suggestions(ctx, s["x-options"]));
      }
      let extra = null;
      if (s["x-upload"]) {
        const note = h("span", { class: "muted" });
        const file = h("input", { type: "file", "aria-label": "Upload a file for " + label(name), onchange: async () => {
          const f = file.files[0];
          if (!f) return;
          note.textContent = "Uploading " + f.name + "…";
          try {
            const r = await api("POST", s["x-upload"] + "?name=" + encodeURIComponent(f.name), f);
            input.value = r.id;
            note.textContent = (r.existed ? "Already stored: " : "Uploaded: ") + r.name + " (" + r.size + " bytes)";
          } catch (x) { note.textContent = "Upload failed: " + x.message; note.className = "field-error"; }
        } });
        extra = h("div", { class: "upload" }, file, note);
      }
      return { node: wrap(input, extra), read: () => (input.value === "" ? undefined : input.value) };
    }
    case "number": {
      const input = h("input", { id, name: path, inputmode: s.type === "integer" ? "numeric" : "decimal", value: value, size: 12,
        placeholder: s.default !== undefined ? String(s.default) : undefined });
      return { node: wrap(input), read: () => asNumber(input.value) };
    }
    case "choices": {
      const it = resolve(doc, s.items);
      const boxes = it.enum.map((v) => h("input", { type: "checkbox", name: path, value: v, checked: (value || s.default || []).includes(v), id: id + "-" + v }));
      return { node: h("fieldset", { class: "field choices" }, h("legend", {}, title),
        boxes.map((b) => h("label", { class: "check" }, b, b.value)), hint(s)),
      read: () => { const v = boxes.filter((b) => b.checked).map((b) => b.value); return v.length ? v : undefined; } };
    }
    case "lines":
    case "numbers": {
      const input = h("textarea", { id, name: path, rows: 3 }, (value || []).join("\n"));
      return { node: wrap(input, h("small", { class: "hint" }, "One per line.")),
        read: () => {
          const v = input.value.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);
          return v.length ? (k === "numbers" ? v.map(asNumber) : v) : undefined;
        } };
    }
    case "rows": return rows(doc, ctx, name, s, path, value, title);
    case "object": {
      const o = objectFields(doc, ctx, s, path, value || {});
      const box = h("details", { class: "field group", open: value !== undefined || required },
        h("summary", {}, title), hint(s), o.nodes);
      return { node: box, read: o.read };
    }
    default: { // json
      const input = h("textarea", { id, name: path, rows: 8, class: "code", spellcheck: "false" }, value === undefined ? "" : JSON.stringify(value, null, 2));
      return { node: wrap(input, h("small", { class: "hint" }, "JSON.")),
        read: () => {
          if (input.value.trim() === "") return undefined;
          try { return JSON.parse(input.value); } catch (x) { ctx.errors.push({ field: path, message: "is not valid JSON: " + x.message }); return undefined; }
        } };
    }
  }
}

// rows edits a list of small objects (HTTP headers, exports) as rows with Add and Remove.
function rows(doc, ctx, name, s, path, value, title) {
  const item = resolve(doc, s.items);
  let items = (value || []).map((v) => Object.assign({}, v));
  let reads = [];
  const body = h("div", { class: "rows" });
  const sync = () => { items = reads.map((r) => r() || {}); };
  const render = () => {
    reads = [];
    body.replaceChildren(...items.map((v, i) => {
      const o = objectFields(doc, ctx, item, `${path}[${i}]`, v);
      reads.push(o.read);
      return h("div", { class: "row" }, o.nodes,
        h("button", { type: "button", class: "secondary remove", onclick: () => { sync(); items.splice(i, 1); render(); } }, "Remove"));
    }));
  };
  render();
  const add = h("button", { type: "button", class: "secondary add", id: idOf(path) + "-add", onclick: () => { sync(); items.push({}); render(); } }, "Add " + label(name).toLowerCase().replace(/s$/, ""));
  // the list's own errors (config.exports: at least one) land on the Add button's row
  return { node: h("fieldset", { class: "field list" }, h("legend", {}, title), hint(s), body,
    h("label", { class: "adder" }, add, h("input", { type: "hidden", name: path }))),
  read: () => { const v = reads.map((r) => r() || {}); return v.length ? v : undefined; } };
}

// objectFields builds the fields of an object schema; read() gives the object, or undefined
// when nothing in it is set.
export function objectFields(doc, ctx, s, path, value, skip) {
  s = resolve(doc, s);
  const req = new Set(s.required || []);
  const parts = [];
  for (const [name, p] of Object.entries(s.properties || {})) {
    const r = resolve(doc, p);
    if (r.readOnly || (skip && skip.includes(name))) continue;
    parts.push([name, field(doc, ctx, name, r, path ? path + "." + name : name, value[name], value, req.has(name))]);
  }
  return {
    nodes: parts.map(([, f]) => f.node),
    read: () => {
      const out = {};
      for (const [name, f] of parts) {
        const v = f.read();
        if (v !== undefined) out[name] = v;
      }
      return Object.keys(out).length ? out : undefined;
    },
  };
}

// newContext holds what one form shares: fetched suggestion lists and errors found before
// the request (JSON that does not parse).
export function newContext() {
  return { lists: {}, datalists: h("div", { hidden: true }), errors: [] };
}
