// The OpenAPI document as a plain page, with a "try it" box per endpoint: no CDN, works offline.
"use strict";

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function typeOf(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.anyOf) return schema.anyOf.map((s) => typeOf(s, spec)).join(" | ");
  if (schema.type === "array") return `list[${typeOf(schema.items, spec)}]`;
  if (schema.type === "object" && schema.additionalProperties) return `{str: ${typeOf(schema.additionalProperties, spec)}}`;
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  return schema.type || "any";
}

function fields(schema, spec) {
  const s = schema.$ref ? spec.components.schemas[schema.$ref.split("/").pop()] : schema;
  const table = el("table", { class: "fields" });
  const head = el("tr");
  for (const h of ["field", "type", "default", "range", "what"]) head.append(el("th", {}, h));
  table.append(head);
  for (const [name, p] of Object.entries(s.properties || {})) {
    const range = [["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"], ["exclusiveMaximum", "<"]]
      .filter(([k]) => p[k] !== undefined).map(([k, sym]) => `${sym} ${p[k]}`).join(", ");
    const row = el("tr");
    row.append(el("td", {}, name), el("td", {}, typeOf(p, spec)),
      el("td", {}, p.default === undefined ? "" : JSON.stringify(p.default)), el("td", {}, range), el("td", {}, p.description || ""));
    table.append(row);
  }
  return table;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("endpoints");
  root.append(el("p", {}, spec.info.description || ""));
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const sec = el("section", { class: "task endpoint" });
      sec.append(el("h2", {}, `${method.toUpperCase()} ${path}`));
      if (op.summary) sec.append(el("p", { class: "muted" }, op.summary));
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) sec.append(fields(body.schema, spec));
      const box = el("div", { class: "row" });
      const pathInput = el("input", { type: "text", value: path.replace("{name}", "MODEL"), "aria-label": "path" });
      box.append(pathInput);
      const text = el("textarea", { rows: 2, "aria-label": "request body" });
      if (body) { text.value = "{}"; box.append(text); }
      const go = el("button", {}, "Send");
      const out = el("pre", { class: "response" });
      go.addEventListener("click", async () => {
        const init = method === "get" ? {} : { method: method.toUpperCase(), headers: { "content-type": "application/json" }, body: text.value };
        const res = await fetch(pathInput.value, init);
        out.textContent = `${res.status}\n${await res.text()}`;
      });
      box.append(go);
      sec.append(box, out);
      root.append(sec);
    }
  }
}

main();
