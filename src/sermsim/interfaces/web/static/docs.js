// The API's own description, read from /openapi.json (no CDN: the docs page FastAPI ships
// loads its scripts from one).
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

function resolve(spec, schema) {
  if (schema && schema.$ref) return spec.components.schemas[schema.$ref.split("/").pop()];
  return schema || {};
}

function typeOf(spec, s) {
  s = resolve(spec, s);
  if (s.enum) return s.enum.join(" | ");
  if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" or ");
  if (s.type === "array") return `list of ${typeOf(spec, s.items)}`;
  if (s.title === "Patient") return "patient (see below)";
  return s.type || "object";
}

function fields(spec, schema) {
  const s = resolve(spec, schema);
  const table = el("table", { class: "doc" }, el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "required"), el("th", {}, "about"))));
  const body = el("tbody");
  const required = new Set(s.required || []);
  for (const [name, p] of Object.entries(s.properties || {})) {
    const limits = [];
    for (const k of ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "default"]) {
      if (p[k] !== undefined) limits.push(`${k} ${JSON.stringify(p[k])}`);
    }
    body.append(el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, typeOf(spec, p)), el("td", {}, required.has(name) ? "yes" : ""), el("td", {}, [p.description || "", limits.join(", ")].filter(Boolean).join("; "))));
  }
  table.append(body);
  return table;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const root = document.getElementById("endpoints");
  let patient = null;
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const section = el("section", { class: "card" }, el("h3", {}, `${method.toUpperCase()} ${path}`), el("p", {}, op.summary || ""), el("p", { class: "help" }, op.description || ""));
      const content = op.requestBody && op.requestBody.content["application/json"];
      if (content) {
        const schema = resolve(spec, content.schema);
        section.append(fields(spec, schema));
        const example = {};
        for (const [name, p] of Object.entries(schema.properties || {})) {
          if (p.examples) example[name] = p.examples[0];
          if (resolve(spec, p).title === "Patient") patient = resolve(spec, p);
        }
        section.append(el("p", {}, "Example body:"), el("pre", {}, JSON.stringify(example, null, 2)));
      }
      root.append(section);
    }
  }
  if (patient) root.append(el("section", { class: "card" }, el("h3", {}, "patient"), el("p", {}, patient.description || ""), fields(spec, patient)));
}

document.addEventListener("DOMContentLoaded", main);
