// sermsim's page: a person's profile in, /api/compare's JSON out, drawn as tables and SVG.
// Plain JavaScript, no build step and nothing loaded from elsewhere. No science here: every
// number shown is one the API returned, only rounded for display (fmt1).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const NUMBER_KEYS = ["age", "years_since_menopause", "bmi", "bmd_t_score_spine", "bmd_t_score_hip"];
const BOOLEAN_KEYS = ["smoker", "prior_vte", "prior_fragility_fracture"];
const WOMEN_ONLY = ["menopause", "years_since_menopause", "uterus"];
const ICON_COLUMNS = 40; // 1,000 icons as 25 rows of 40
const DEFAULT_ICON_OPTION = "raloxifene";
const DEFAULT_ENDPOINT = "invasive_breast_cancer";
const LABEL_CHARS = 34; // option labels in charts wrap at this many characters
const LABEL_WIDTH = 230; // and take this many pixels

let defaults = { options: [], weights: {}, limits: {} };
let last = null; // the last result shown

function $(id) {
  return document.getElementById(id);
}

// An HTML element with attributes and children (strings become text, never HTML).
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// One decimal, ties away from zero (the test reads these with the same rule); "—" if missing.
function fmt1(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  const s = (x < 0 ? "-" : "") + Math.abs(x).toFixed(1);
  return s === "-0.0" ? "0.0" : s;
}

function fmt2(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  const s = (x < 0 ? "-" : "") + Math.abs(x).toFixed(2);
  return s === "-0.00" ? "0.00" : s;
}

// An interval as the page shows it: "7.0 to 22.0".
function interval(low, high) {
  return `${fmt1(low)} to ${fmt1(high)}`;
}

function signed(x) {
  return `${x > 0 ? "+" : ""}${fmt1(x)}`;
}

// Words of ``text`` in lines of at most ``width`` characters.
function wrap(text, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

// An SVG text of several lines, right-aligned at x and centred on y.
function svgLines(x, y, lines, cls) {
  const text = svgEl("text", { x, y: y - ((lines.length - 1) * 13) / 2 + 4, "text-anchor": "end", class: cls });
  lines.forEach((line, i) => text.append(svgEl("tspan", { x, dy: i ? 13 : 0 }, line)));
  return text;
}

function optionLines(option) {
  const lines = wrap(option.label, LABEL_CHARS);
  if (!option.suitable) lines.push("(not suitable)");
  return lines;
}

// Axis ticks at 1, 2 or 5 times a power of ten.
function ticks(highest) {
  const raw = highest / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((m) => m >= raw);
  const out = [];
  for (let v = 0; v <= highest + 1e-9; v += step) out.push(v);
  return out;
}

function pretty(name) {
  return name.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase());
}

function label(endpoint) {
  const e = last && last.endpoints && last.endpoints[endpoint];
  return e ? e.label : pretty(endpoint);
}

// ------------------------------------------------------------------------------ the form

function womenOnlyShown() {
  const female = document.querySelector("[name=sex]").value === "female";
  for (const node of document.querySelectorAll(".women")) {
    node.hidden = !female;
    for (const input of node.querySelectorAll("input, select")) input.disabled = !female;
  }
}

function readForm() {
  const form = $("profile");
  const value = (name) => form.elements[name].value.trim();
  const patient = { sex: value("sex") };
  for (const key of NUMBER_KEYS) {
    if (form.elements[key].disabled || value(key) === "") continue;
    patient[key] = Number(value(key));
  }
  const risk = value("breast_cancer_5y_risk");
  if (risk !== "") patient.breast_cancer_5y_risk = Number(risk) / 100; // the form asks in %
  for (const key of BOOLEAN_KEYS) patient[key] = form.elements[key].checked;
  patient.thrombophilia = value("thrombophilia");
  patient.cyp2d6 = value("cyp2d6");
  if (patient.sex === "female") {
    if (value("menopause") !== "") patient.menopause = value("menopause");
    patient.uterus = form.elements.uterus.checked;
  }
  const body = { patient, years: value("years") === "" ? 5 : Number(value("years")) };
  const chosen = [...document.querySelectorAll("#options input:checked")].map((i) => i.value);
  if (chosen.length !== defaults.options.length) body.agents = chosen;
  const weights = {};
  for (const input of document.querySelectorAll("#weights input")) {
    const w = input.value.trim() === "" ? NaN : Number(input.value);
    if (w !== defaults.weights[input.name]) weights[input.name] = Number.isNaN(w) ? input.value : w;
  }
  if (Object.keys(weights).length) body.weights = weights;
  return body;
}

function fillDefaults() {
  const options = $("options");
  options.replaceChildren();
  for (const text of defaults.options) {
    options.append(
      el("label", {}, el("input", { type: "checkbox", value: text, checked: true }), " ", text),
    );
  }
  const weights = $("weights");
  weights.replaceChildren();
  for (const [name, w] of Object.entries(defaults.weights)) {
    weights.append(
      el(
        "label",
        {},
        pretty(name),
        el("input", {
          name,
          type: "number",
          step: "any",
          min: "0",
          max: "10",
          value: String(w),
          "data-testid": `weight-${name}`,
        }),
      ),
    );
  }
  if (defaults.limits && defaults.limits.max_years) {
    document.querySelector("[name=years]").max = String(defaults.limits.max_years);
  }
}

async function loadDefaults() {
  try {
    const res = await fetch("/api/compare/defaults");
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : `status ${res.status}`);
    defaults = body;
    fillDefaults();
  } catch (err) {
    showError({ message: `could not load the standard options (${err.message})` });
  }
}

// ------------------------------------------------------------------------------ errors

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showError(error) {
  const box = $("error");
  const field = error.field || "";
  box.replaceChildren(
    el("strong", {}, field ? `Please check ${field}. ` : "Something went wrong. "),
    el("span", { "data-testid": "error-message" }, error.message),
  );
  box.dataset.field = field;
  box.hidden = false;
  const key = field.startsWith("patient.") ? field.slice("patient.".length) : field.split(".").pop();
  const input = key && $("profile").elements[key];
  if (input && input.setAttribute) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

// ------------------------------------------------------------------------------ submit

async function submit(event) {
  event.preventDefault();
  clearError();
  const results = $("results");
  const button = $("submit");
  const status = $("status");
  button.disabled = true;
  results.dataset.state = "running";
  const started = Date.now();
  const tick = () => {
    const s = Math.round((Date.now() - started) / 1000);
    status.textContent = `computing… ${s} s (the first run of a fresh server compiles the engine: up to a minute or two)`;
  };
  tick();
  const timer = setInterval(tick, 1000);
  try {
    const res = await fetch("/api/compare", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(readForm()),
    });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok || !body) {
      const error = body && body.error ? body.error : { message: `the server answered ${res.status}` };
      showError(error);
      results.dataset.state = "error";
      status.textContent = "";
      return;
    }
    render(body);
    status.textContent = `done in ${Math.round((Date.now() - started) / 100) / 10} s`;
  } catch (err) {
    showError({ message: `could not reach the server (${err.message})` });
    results.dataset.state = "error";
    status.textContent = "";
  } finally {
    clearInterval(timer);
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------ results

function events(result) {
  return Object.keys(result.endpoints).filter((k) => result.endpoints[k].kind === "event");
}

function continuous(result) {
  return Object.keys(result.endpoints).filter((k) => result.endpoints[k].kind === "continuous");
}

function suitabilityBadge(option) {
  if (option.key === "none") return el("span", { class: "badge ref" }, "reference");
  const caution = option.flags.length > 0;
  const text = option.suitable ? (caution ? "caution" : "suitable") : "not suitable";
  const cls = option.suitable ? (caution ? "badge caution" : "badge ok") : "badge bad";
  return el("span", { class: cls, "data-testid": `suitable-${option.key}` }, text);
}

function rowAttrs(option) {
  return { class: option.suitable ? "" : "unsuitable", "data-option": option.key };
}

function renderEvents(result) {
  const names = events(result);
  const table = $("events");
  table.replaceChildren();
  table.append(
    el(
      "thead",
      {},
      el("tr", {}, el("th", { scope: "col" }, "Option"), ...names.map((n) => el("th", { scope: "col" }, label(n)))),
    ),
  );
  const body = el("tbody");
  for (const option of result.options) {
    const row = el("tr", rowAttrs(option), el("th", { scope: "row" }, option.label, " ", suitabilityBadge(option)));
    for (const name of names) {
      const e = option.events[name];
      const diff = e.vs_none ? el("span", { class: "diff" }, `${signed(e.vs_none.difference)} vs none`) : null;
      row.append(
        el(
          "td",
          {},
          el("span", { class: "num", "data-testid": `events-${option.key}-${name}` }, fmt1(e.per_1000)),
          el("span", { class: "ci" }, ` (${interval(e.low, e.high)})`),
          diff ? el("br") : null,
          diff,
        ),
      );
    }
    body.append(row);
  }
  table.append(body);
}

function renderNetBenefit(result) {
  $("weights-used").textContent = Object.entries(result.weights)
    .map(([k, w]) => `${label(k)} ${w}`)
    .join(", ");
  const table = $("nbi");
  table.replaceChildren(
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        ...["Option", "Index", "95% interval", "Prevented (weighted)", "Caused (weighted)"].map((h) =>
          el("th", { scope: "col" }, h),
        ),
      ),
    ),
  );
  const body = el("tbody");
  for (const option of result.options) {
    const nb = option.net_benefit;
    const row = el("tr", rowAttrs(option), el("th", { scope: "row" }, option.label, " ", suitabilityBadge(option)));
    if (!nb) {
      row.append(el("td", { colspan: 4, class: "muted" }, "the reference: every option is compared with it"));
    } else {
      row.append(
        el("td", {}, el("span", { class: "num", "data-testid": `nbi-${option.key}` }, fmt1(nb.index))),
        el("td", { "data-testid": `nbi-interval-${option.key}` }, interval(nb.low, nb.high)),
        el("td", {}, fmt1(nb.prevented)),
        el("td", {}, fmt1(nb.caused)),
      );
    }
    body.append(row);
  }
  table.append(body);
}

function renderContinuous(result) {
  const names = continuous(result);
  const table = $("continuous");
  table.replaceChildren(
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Option"),
        ...names.map((n) => {
          const unit = result.endpoints[n].unit;
          return el("th", { scope: "col" }, label(n).includes(unit) ? label(n) : `${label(n)} (${unit})`);
        }),
      ),
    ),
  );
  const body = el("tbody");
  for (const option of result.options) {
    const row = el("tr", rowAttrs(option), el("th", { scope: "row" }, option.label));
    for (const name of names) {
      const c = option.continuous[name];
      if (!c) {
        row.append(el("td", { class: "muted" }, "—"));
        continue;
      }
      const cell = el(
        "td",
        {},
        el("span", { class: "num", "data-testid": `continuous-${option.key}-${name}` }, fmt1(c.mean)),
        el("span", { class: "ci" }, ` (${interval(c.low, c.high)})`),
      );
      if (c.vs_none) {
        cell.append(el("br"), el("span", { class: "diff" }, `${signed(c.vs_none.difference)} vs none`));
      }
      row.append(cell);
    }
    body.append(row);
  }
  table.append(body);
}

function fillSelect(select, items, chosen) {
  const keep = select.value;
  select.replaceChildren(...items.map(([value, text]) => el("option", { value }, text)));
  const values = items.map(([v]) => v);
  select.value = values.includes(keep) ? keep : values.includes(chosen) ? chosen : values[0];
}

function people(result) {
  return result.patient.sex === "male" ? "men" : "women";
}

function renderIcons() {
  const result = last;
  const option = result.options.find((o) => o.key === $("icon-option").value) || result.options[0];
  const name = $("icon-endpoint").value;
  const none = result.options[0];
  const withOption = Math.round(option.events[name].per_1000);
  const without = Math.round(none.events[name].per_1000);
  const anyway = Math.min(withOption, without);
  const spared = Math.max(without - withOption, 0);
  const extra = Math.max(withOption - without, 0);
  const size = 12;
  const rows = Math.ceil(result.per / ICON_COLUMNS);
  const svg = svgEl("svg", {
    viewBox: `0 0 ${ICON_COLUMNS * size} ${rows * size}`,
    width: ICON_COLUMNS * size,
    height: rows * size,
    role: "img",
    "aria-label": `${withOption} of ${result.per} with ${option.label}, ${without} without treatment`,
    "data-testid": "icons-svg",
  });
  const defs = svgEl("defs");
  const person = svgEl("symbol", { id: "person", viewBox: "0 0 10 10" });
  person.append(svgEl("circle", { cx: 5, cy: 2.4, r: 2.1 }), svgEl("path", { d: "M1.6 10 Q1.6 5 5 5 Q8.4 5 8.4 10 Z" }));
  defs.append(person);
  svg.append(defs);
  for (let i = 0; i < result.per; i++) {
    const kind = i < anyway ? "anyway" : i < anyway + spared ? "spared" : i < anyway + spared + extra ? "extra" : "free";
    svg.append(
      svgEl("use", {
        href: "#person",
        x: (i % ICON_COLUMNS) * size + 1,
        y: Math.floor(i / ICON_COLUMNS) * size + 1,
        width: size - 2,
        height: size - 2,
        class: `icon ${kind}`,
      }),
    );
  }
  const who = people(result);
  const per = result.per.toLocaleString("en-US");
  const event = label(name).toLowerCase();
  const caption =
    option.key === "none"
      ? `Out of ${per} ${who} like this one, about ${without} get ${event} within ${result.years} years without treatment.`
      : `Out of ${per} ${who} like this one, over ${result.years} years: about ${withOption} get ${event} on ${option.label}, against ${without} without treatment.`;
  const legend = el(
    "ul",
    { class: "legend" },
    el("li", {}, el("span", { class: "key anyway" }), ` ${anyway} get it either way`),
    option.key === "none" ? null : el("li", {}, el("span", { class: "key spared" }), ` ${spared} spared by the option`),
    option.key === "none" ? null : el("li", {}, el("span", { class: "key extra" }), ` ${extra} more because of the option`),
    el("li", {}, el("span", { class: "key free" }), ` ${result.per - anyway - spared - extra} do not get it`),
  );
  const note = option.suitable ? null : el("p", { class: "warn" }, `${option.label} is marked not suitable for this person (see below).`);
  $("icons").replaceChildren(...[el("p", { "data-testid": "icon-caption" }, caption), svg, legend, note].filter(Boolean));
}

function renderBars() {
  const result = last;
  const name = $("bar-endpoint").value;
  const rowH = 36;
  const left = LABEL_WIDTH + 10;
  const width = 420;
  const top = 6;
  const axis = 40;
  const highest = Math.max(1, ...result.options.map((o) => o.events[name].high));
  const marks = ticks(highest);
  const end = marks[marks.length - 1];
  const x = (v) => left + (Math.max(0, v) / end) * width;
  const height = top + result.options.length * rowH + axis;
  const svg = svgEl("svg", {
    viewBox: `0 0 ${left + width + 60} ${height}`,
    width: left + width + 60,
    height,
    role: "img",
    "aria-label": `${label(name)} per ${result.per} for every option, with 95% intervals`,
    "data-testid": "bars-svg",
  });
  result.options.forEach((o, i) => {
    const e = o.events[name];
    const y = top + i * rowH;
    const mid = y + rowH / 2;
    svg.append(
      svgLines(left - 8, mid, optionLines(o), o.suitable ? "bar-label" : "bar-label unsuitable"),
      svgEl("rect", { x: left, y: y + 8, width: Math.max(0, x(e.per_1000) - left), height: rowH - 16, class: o.suitable ? "bar" : "bar unsuitable" }),
      svgEl("line", { x1: x(e.low), x2: x(e.high), y1: mid, y2: mid, class: "whisker" }),
      svgEl("line", { x1: x(e.low), x2: x(e.low), y1: mid - 5, y2: mid + 5, class: "whisker" }),
      svgEl("line", { x1: x(e.high), x2: x(e.high), y1: mid - 5, y2: mid + 5, class: "whisker" }),
      svgEl("text", { x: x(e.high) + 6, y: mid + 4, class: "bar-value" }, fmt1(e.per_1000)),
    );
  });
  const base = top + result.options.length * rowH;
  svg.append(svgEl("line", { x1: left, x2: left + width, y1: base, y2: base, class: "axis" }));
  for (const v of marks) {
    svg.append(
      svgEl("line", { x1: x(v), x2: x(v), y1: base, y2: base + 4, class: "axis" }),
      svgEl("text", { x: x(v), y: base + 16, "text-anchor": "middle", class: "tick" }, String(Math.round(v * 1000) / 1000)),
    );
  }
  svg.append(svgEl("text", { x: left + width / 2, y: base + 32, "text-anchor": "middle", class: "tick" }, `${label(name)} per ${result.per.toLocaleString("en-US")} over ${result.years} years (bar: expected; whiskers: 95% interval)`));
  $("bars").replaceChildren(svg);
}

// Diverging colour for a tissue signal in [-1, 1] (blue below 0, red above), or a single
// hue for a fraction in [0, 1].
function signalColour(v) {
  const t = Math.max(-1, Math.min(1, v));
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
}

function fractionColour(v) {
  const t = Math.max(0, Math.min(1, v));
  const c = Math.round(255 - 150 * t);
  return `rgb(${c},${Math.round(255 - 200 * t)},255)`;
}

function heatmap(result, key, colour, title, testid) {
  const cell = 62;
  const rowH = 36;
  const left = LABEL_WIDTH + 10;
  const top = 110; // room for the tissue names, slanted
  const tissues = result.tissues;
  const width = left + tissues.length * cell + 90;
  const height = top + result.options.length * rowH + 10;
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title, "data-testid": `${testid}-svg` });
  svg.append(svgEl("text", { x: 0, y: 14, class: "chart-title" }, title));
  tissues.forEach((t, j) => {
    const cx = left + j * cell + cell / 2;
    svg.append(svgEl("text", { x: cx, y: top - 8, transform: `rotate(-40 ${cx} ${top - 8})`, class: "tick" }, t));
  });
  result.options.forEach((o, i) => {
    const y = top + i * rowH;
    svg.append(svgLines(left - 8, y + rowH / 2, optionLines(o), o.suitable ? "bar-label" : "bar-label unsuitable"));
    tissues.forEach((t, j) => {
      const v = o[key][t];
      svg.append(
        svgEl("rect", { x: left + j * cell, y: y + 2, width: cell - 2, height: rowH - 4, fill: colour(v), class: "cell" }),
        svgEl("text", { x: left + j * cell + cell / 2, y: y + rowH / 2 + 4, "text-anchor": "middle", class: "cell-value", "data-testid": `${testid}-${o.key}-${t}` }, fmt2(v)),
      );
    });
  });
  return svg;
}

function renderExplanations(result) {
  const box = $("explanations");
  box.replaceChildren();
  for (const option of result.options) {
    const flags = option.flags.length
      ? el(
          "ul",
          { class: "flags" },
          ...option.flags.map((f) =>
            el(
              "li",
              { class: `flag ${f.level || ""}` },
              el("strong", {}, f.level ? `${f.level}: ` : ""),
              f.reason,
              el("span", { class: "source" }, ` — ${f.source}${f.verified ? "" : " (not yet verified)"}`),
            ),
          ),
        )
      : option.key === "none"
        ? null
        : el("p", { class: "muted" }, "No flag for this person.");
    box.append(
      el(
        "article",
        { class: option.suitable ? "card" : "card unsuitable", "data-testid": `explanation-${option.key}` },
        el("h4", {}, option.label, " ", suitabilityBadge(option)),
        flags,
        el("p", {}, option.explanation),
      ),
    );
  }
}

function describe(patient) {
  const parts = [`${patient.sex}, ${patient.age} years`];
  if (patient.menopause) parts.push(`${patient.menopause}menopausal`);
  if (patient.sex === "female") parts.push(patient.uterus ? "with a uterus" : "without a uterus");
  if (patient.breast_cancer_5y_risk) parts.push(`5-year breast cancer risk ${(patient.breast_cancer_5y_risk * 100).toFixed(1)}%`);
  return parts.join(", ");
}

function render(result) {
  last = result;
  const results = $("results");
  $("results-title").textContent = `Results: ${describe(result.patient)}, over ${result.years} years`;
  results.querySelector("[data-testid=results-disclaimer]").textContent = result.disclaimer;
  $("interval-note").textContent = result.interval.note;
  renderEvents(result);
  renderNetBenefit(result);
  renderContinuous(result);
  const eventItems = events(result).map((n) => [n, label(n)]);
  const optionItems = result.options.map((o) => [o.key, o.label]);
  fillSelect($("icon-option"), optionItems, DEFAULT_ICON_OPTION);
  fillSelect($("icon-endpoint"), eventItems, DEFAULT_ENDPOINT);
  fillSelect($("bar-endpoint"), eventItems, DEFAULT_ENDPOINT);
  renderIcons();
  renderBars();
  renderExplanations(result);
  $("heatmap").replaceChildren(heatmap(result, "signals", signalColour, "Tissue ER signal (1 = saturating estradiol)", "signal"));
  $("occupancy").replaceChildren(heatmap(result, "occupancy", fractionColour, "ERα held by the drug(s)", "occupancy"));
  $("sources-count").textContent = String(result.sources.length);
  $("sources").replaceChildren(
    ...result.sources.map((s) => el("li", {}, el("strong", {}, s.what), `: ${s.source}${s.verified ? "" : " (not yet verified)"}`)),
  );
  const p = result.provenance || {};
  $("provenance").textContent = `sermsim ${p.sermsim_version || "?"}; parameters ${String(p.parameters_sha256 || "").slice(0, 12)}; computed in ${p.seconds} s. ${result.weights_source}`;
  results.hidden = false;
  results.dataset.state = "done";
}

document.addEventListener("DOMContentLoaded", () => {
  $("profile").addEventListener("submit", submit);
  document.querySelector("[name=sex]").addEventListener("change", womenOnlyShown);
  $("icon-option").addEventListener("change", renderIcons);
  $("icon-endpoint").addEventListener("change", renderIcons);
  $("bar-endpoint").addEventListener("change", renderBars);
  womenOnlyShown();
  loadDefaults();
});
