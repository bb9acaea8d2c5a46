// The reports page's script (served as /reports.js: the page's policy allows no inline script).
"use strict";
// All report text is inserted with textContent: it was written by scammers.
const $ = (id) => document.getElementById(id);
function cell(row, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); return td; }
function rows(tbody, pairs) {
  tbody.replaceChildren();
  for (const [k, v] of pairs) { const tr = document.createElement("tr"); cell(tr, k); cell(tr, String(v)); tbody.appendChild(tr); }
}
function sorted(obj) { return Object.entries(obj || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])); }
function days30() {
  const out = [], now = Date.now();
  for (let i = 29; i >= 0; i--) out.push(new Date(now - i * 86400000).toISOString().slice(0, 10));
  return out;
}
function chart(byDay) {
  const svg = $("chart"), ns = "http://www.w3.org/2000/svg", days = days30();
  const max = Math.max(1, ...days.map((d) => byDay[d] || 0)), w = 900 / days.length;
  svg.replaceChildren();
  days.forEach((d, i) => {
    const n = byDay[d] || 0, h = Math.round((n / max) * 130);
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("class", "bar"); r.setAttribute("x", i * w + 2); r.setAttribute("width", w - 4);
    r.setAttribute("y", 140 - h); r.setAttribute("height", h);
    r.dataset.day = d; r.dataset.count = n;
    const t = document.createElementNS(ns, "title"); t.textContent = d + ": " + n; r.appendChild(t);
    svg.appendChild(r);
    if (i % 5 === 4 || i === days.length - 1) {
      const l = document.createElementNS(ns, "text"); l.setAttribute("class", "axis");
      l.setAttribute("x", i * w); l.setAttribute("y", 156); l.textContent = d.slice(5); svg.appendChild(l);
    }
  });
}
// Two buttons a report: the team's label, sent to POST /v1/reports/{id}/label; the one set is
// marked. The page's figures are recounted once a minute, so the mark is set here at once.
function labelCell(tr, r) {
  const td = cell(tr, "", "label");
  const current = r.label ? r.label.label : null;
  for (const [value, text] of [["scam", "scam · 诈骗"], ["not_scam", "not a scam · 不是"]]) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.dataset.label = value;
    if (value === current) b.classList.add("chosen");
    b.addEventListener("click", () => label(r.id, value, td));
    td.appendChild(b);
  }
}
async function label(id, value, td) {
  const token = sessionStorage.getItem("safepath-token");
  const res = await fetch("/v1/reports/" + id + "/label", {
    method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify({ label: value, by: "reports-page" }),
  });
  if (!res.ok) { $("updated").textContent = "label not saved: HTTP " + res.status; return; }
  for (const b of td.querySelectorAll("button")) b.classList.toggle("chosen", b.dataset.label === value);
}
function render(d) {
  $("today-total").textContent = d.today.total;
  $("week-total").textContent = d.week.total;
  rows($("today-signals"), sorted(d.today.by_signal));
  rows($("week-signals"), sorted(d.week.by_signal));
  rows($("indicators"), d.week.top_indicators);
  chart(d.month.by_day);
  const tb = $("latest"); tb.replaceChildren();
  for (const r of d.latest) {
    const tr = document.createElement("tr"); tr.className = "report";
    cell(tr, String(r.id));
    cell(tr, new Date(r.time * 1000).toISOString().slice(0, 16).replace("T", " "));
    cell(tr, r.channel);
    cell(tr, r.verdict, r.verdict);
    cell(tr, r.signals.filter((s) => s.weight > 0).map((s) => s.name).join(", "));
    cell(tr, r.text, "text");
    labelCell(tr, r);
    tb.appendChild(tr);
  }
  $("updated").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
}
async function load() {
  const token = sessionStorage.getItem("safepath-token");
  if (!token) { $("login").classList.remove("hidden"); $("board").classList.add("hidden"); return; }
  const res = await fetch("/v1/dashboard", { headers: { Authorization: "Bearer " + token } });
  if (res.status === 401) { sessionStorage.removeItem("safepath-token"); $("error").textContent = "That token was refused."; $("login").classList.remove("hidden"); return; }
  if (!res.ok) { $("updated").textContent = "could not load: HTTP " + res.status; return; }
  render(await res.json());
  $("login").classList.add("hidden"); $("board").classList.remove("hidden");
  document.body.dataset.loaded = "1";
}
// A token may come in the URL fragment (never sent to the server); it is moved out of the URL.
const m = location.hash.match(/token=([^&]+)/);
if (m) { sessionStorage.setItem("safepath-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
$("login-form").addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("safepath-token", $("token").value); $("error").textContent = ""; load(); });
load();
setInterval(() => { if (sessionStorage.getItem("safepath-token")) load(); }, 60000);
