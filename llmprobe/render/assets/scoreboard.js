// Sorting, filtering and the evidence dialog. Results text only ever reaches the page as
// textContent, never as markup.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("data").textContent);
  const body = document.querySelector("#board tbody");
  const heads = Array.from(document.querySelectorAll("#board thead th"));
  const form = document.getElementById("filters");
  const toggle = document.getElementById("untested");
  const dialog = document.getElementById("evidence");
  const FIRST_CELL = 2; // provider and model come before the columns of data.columns
  let opener = null;

  const visibleRows = () => Array.from(body.rows).filter((tr) => !tr.hidden);
  const rowData = (tr) => data.rows[Number(tr.dataset.i)];

  function matches(tr) {
    const row = rowData(tr);
    const f = form.elements;
    if (!row.mode && toggle.getAttribute("aria-expanded") !== "true") return false;
    if (f.provider.value && row.provider !== f.provider.value) return false;
    if (f.thinking.checked && !row.thinking) return false;
    if (f.local.checked && !row.local) return false;
    const q = f.q.value.trim().toLowerCase();
    if (q && !`${row.provider} ${row.model}`.toLowerCase().includes(q)) return false;
    return Array.from(form.querySelectorAll("select[data-verdict]")).every(
      (s) => !s.value || row.verdicts[s.dataset.verdict] === s.value,
    );
  }

  function filter() {
    for (const tr of body.rows) tr.hidden = !matches(tr);
    const shown = visibleRows();
    document.getElementById("count").textContent = `${shown.length} of ${body.rows.length} rows shown`;
    const current = body.querySelector('td[tabindex="0"]');
    if (!current || current.parentElement.hidden) {
      if (current) current.tabIndex = -1;
      if (shown.length) shown[0].querySelector("td[data-c]").tabIndex = 0;
    }
  }

  // Best symbol first, then cells saying more (✅🪨🧐 before ✅), then as text.
  function key(text) {
    const rank = data.rank.findIndex((symbol) => text.startsWith(symbol));
    return [Math.max(rank, 0), -Array.from(text).length, text];
  }
  function compareKeys(a, b) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
  }

  function sort(th) {
    const col = heads.indexOf(th);
    const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    const text = (tr) => tr.cells[col].textContent;
    const compare = th.hasAttribute("data-text")
      ? (a, b) => text(a).localeCompare(text(b))
      : (a, b) => compareKeys(key(text(a)), key(text(b)));
    const rows = Array.from(body.rows);
    rows.sort((a, b) => dir * compare(a, b) || Number(a.dataset.i) - Number(b.dataset.i));
    body.append(...rows);
    for (const h of heads) h.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  const FIELDS = [
    ["reason", "Reply or reason"],
    ["status", "HTTP status"],
    ["latency_ms", "Latency (ms)"],
    ["ttfb_ms", "First byte (ms)"],
    ["ttft_ms", "First token (ms)"],
    ["tokens_in", "Tokens in"],
    ["tokens_out", "Tokens out"],
    ["finish_reason", "Finish reason"],
    ["attempts", "Attempts"],
    ["trial", "Trial"],
  ];

  // The probes that decided one cell: what `llmprobe explain` will show for it too.
  function evidenceFor(row, c) {
    return row.mode ? row.cells[c].map((i) => row.probes[i]) : [];
  }

  function openEvidence(td) {
    const row = rowData(td.parentElement);
    const c = Number(td.dataset.c);
    const column = data.columns[c];
    document.getElementById("evidence-title").textContent =
      `${row.model} · ${row.provider}${row.mode ? ` · ${row.mode}` : ""} — ${column.title} ${td.textContent}`;
    const out = document.getElementById("evidence-body");
    out.replaceChildren();
    if (row.claims[c]) out.append(el("p", row.claims[c], "contradicted"));
    if (!row.mode) {
      out.append(el("p", "Not measured: the model is listed but was not probed, or has no results yet."));
    } else if (!column.probes.length) {
      out.append(el("p", "No probe decides this column: llmprobe does not measure it (see the legend)."));
    } else {
      if (column.verdicts.length) {
        const list = el("ul");
        for (const name of column.verdicts) list.append(el("li", `${data.labels[name]}: ${row.verdicts[name]}`));
        out.append(list);
      }
      const probes = evidenceFor(row, c);
      if (!probes.length) out.append(el("p", "None of the probes behind this column was sent in this mode."));
      for (const probe of probes) {
        const section = el("section");
        section.append(el("h3", `${probe.probe}: ${probe.outcome}`));
        const dl = el("dl");
        for (const [name, label] of FIELDS) {
          if (probe[name] === undefined || probe[name] === "") continue;
          dl.append(el("dt", label), el("dd", String(probe[name])));
        }
        section.append(dl);
        out.append(section);
      }
      // The requests themselves, ready to send again, are one command away (not in the page: its size).
      const quote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;
      out.append(el("p", "The requests, as curl commands to send again:"));
      out.append(el("code", `llmprobe explain ${quote(row.provider)} ${quote(row.model)} --mode ${row.mode} --column ${quote(column.title)}`));
    }
    opener = td;
    dialog.showModal();
  }

  function focusCell(td) {
    const current = body.querySelector('td[tabindex="0"]');
    if (current) current.tabIndex = -1;
    td.tabIndex = 0;
    td.focus();
  }

  const MOVES = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  body.addEventListener("keydown", (event) => {
    const td = event.target.closest("td[data-c]");
    if (!td) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openEvidence(td);
      return;
    }
    const move = MOVES[event.key];
    if (!move) return;
    event.preventDefault();
    const rows = visibleRows();
    const target = rows[rows.indexOf(td.parentElement) + move[0]];
    if (!target) return;
    const cells = target.querySelectorAll("td[data-c]");
    focusCell(cells[Math.min(Math.max(Number(td.dataset.c) + move[1], 0), cells.length - 1)]);
  });
  body.addEventListener("click", (event) => {
    const td = event.target.closest("td[data-c]");
    if (!td) return;
    focusCell(td);
    openEvidence(td);
  });
  dialog.addEventListener("close", () => opener && opener.focus());

  for (const th of heads) th.querySelector("button").addEventListener("click", () => sort(th));
  form.addEventListener("input", filter);
  form.addEventListener("submit", (event) => event.preventDefault());
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = toggle.textContent.replace(open ? "Show" : "Hide", open ? "Hide" : "Show");
    filter();
  });
  for (const button of document.querySelectorAll("#summary button[data-provider]")) {
    button.addEventListener("click", () => {
      form.elements.provider.value = button.dataset.provider;
      filter();
      document.getElementById("board").scrollIntoView();
    });
  }
  filter();
})();
