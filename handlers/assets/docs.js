// Renders /api/openapi.json as a readable list of operations. Same-origin script (the CSP forbids inline
// script); it only ever writes text nodes, never HTML, so nothing in the spec can inject markup.
"use strict";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function resolve(spec, schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { name, schema: spec.components.schemas[name] || {} };
  }
  return { name: null, schema: schema || {} };
}

function schemaBlock(spec, schema) {
  const { name, schema: resolved } = resolve(spec, schema);
  const box = el("div", "schema");
  if (name) box.appendChild(el("div", "schema-name", name));
  box.appendChild(el("pre", "", JSON.stringify(resolved, null, 2)));
  return box;
}

function operationBlock(spec, path, method, op) {
  const section = el("section", "op op-" + method);
  const head = el("h3");
  head.appendChild(el("span", "method", method.toUpperCase()));
  head.appendChild(el("code", "path", path));
  head.appendChild(el("span", "summary", op.summary || ""));
  section.appendChild(head);
  const security = (op.security || []).map((s) => Object.keys(s).join("+")).join(" or ") || "none";
  section.appendChild(el("p", "auth", "Authentication: " + security));
  if (op.description) section.appendChild(el("p", "description", op.description));
  if (op.parameters && op.parameters.length) {
    const list = el("ul", "params");
    for (const p of op.parameters) {
      list.appendChild(el("li", "", p.in + " " + p.name + (p.required ? " (required)" : "")));
    }
    section.appendChild(list);
  }
  if (op.requestBody) {
    section.appendChild(el("h4", "", "Request body"));
    for (const [media, body] of Object.entries(op.requestBody.content)) {
      section.appendChild(el("div", "media", media));
      section.appendChild(schemaBlock(spec, body.schema));
    }
  }
  section.appendChild(el("h4", "", "Responses"));
  for (const [status, answer] of Object.entries(op.responses)) {
    const details = el("details", "response");
    details.appendChild(el("summary", "", status + " " + (answer.description || "")));
    for (const body of Object.values(answer.content || {})) details.appendChild(schemaBlock(spec, body.schema));
    section.appendChild(details);
  }
  return section;
}

async function render() {
  const main = document.getElementById("operations");
  try {
    const response = await fetch(main.dataset.spec, { headers: { Accept: "application/json" } });
    const spec = await response.json();
    const byTag = new Map();
    for (const [path, methods] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const tag = (op.tags && op.tags[0]) || "misc";
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push(operationBlock(spec, path, method, op));
      }
    }
    main.textContent = "";
    for (const [tag, blocks] of byTag) {
      const group = el("div", "tag");
      group.appendChild(el("h2", "", tag));
      for (const block of blocks) group.appendChild(block);
      main.appendChild(group);
    }
    document.body.dataset.rendered = String(blocks_count(byTag));
  } catch (error) {
    main.textContent = "Could not load the specification: " + error;
  }
}

function blocks_count(byTag) {
  let n = 0;
  for (const blocks of byTag.values()) n += blocks.length;
  return n;
}

document.addEventListener("DOMContentLoaded", render);
