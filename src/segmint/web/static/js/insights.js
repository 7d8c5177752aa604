// The RFM insights page (period, filters, segment chart, details, summary table, setup dialog
// with the what-if preview) and the migration section it shares with the Pareto overview.
// The server renders the first view; this script updates it from the REST API. Data comes from
// <script type="application/json"> blocks (the CSP allows no inline script).
(function () {
  "use strict";

  document.documentElement.classList.add("js");
  const S = window.Segmint;

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) {
      if (k === "className") node.className = v;
      else node.setAttribute(k, v);
    });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function count(v) { return S.formatNumber(v, 0); }
  function money(v) { return v === null || v === undefined ? "—" : S.formatNumber(v, 2); }
  function pct(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(1) + " %"; }
  function avg(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(1); }
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      const args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }
  function problemText(error) {
    if (error instanceof S.ApiError && error.fields.length) {
      return error.fields.map(function (f) { return f.message; }).join("; ");
    }
    return error.message || String(error);
  }

  // -- migration between two runs (RFM insights and Pareto overview) ----------------------------

  function drawSankey(box, matrix) {
    if (!box || !window.Plotly) return;
    if (!matrix || !matrix.sankey.links.length) {
      window.Plotly.purge(box);
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const nodes = matrix.sankey.nodes;
    const index = new Map(nodes.map(function (n, i) { return [n.id, i]; }));
    const from = matrix.from_run;
    const to = matrix.to_run;
    const trace = {
      type: "sankey",
      arrangement: "snap",
      node: {
        label: nodes.map(function (n) { return (n.side === "from" ? "Run " + from : "Run " + to) + ": " + n.label; }),
        pad: 14,
        thickness: 16,
        color: nodes.map(function (n) { return n.side === "from" ? "#4f86b8" : "#1f4e79"; }),
      },
      link: {
        source: matrix.sankey.links.map(function (l) { return index.get(l.source); }),
        target: matrix.sankey.links.map(function (l) { return index.get(l.target); }),
        value: matrix.sankey.links.map(function (l) { return l.value; }),
        color: matrix.sankey.links.map(function (l) {
          return l.source.slice(5) === l.target.slice(3) ? "rgba(60, 140, 80, 0.35)" : "rgba(199, 125, 0, 0.35)";
        }),
        hovertemplate: "%{source.label} → %{target.label}: %{value} customers<extra></extra>",
      },
    };
    window.Plotly.react(box, [trace], {
      margin: { l: 10, r: 10, t: 10, b: 10 },
      font: { family: "system-ui, sans-serif", size: 13, color: "#1d2433" },
    }, { displayModeBar: false, responsive: true });
  }

  function renderMatrix(section, matrix) {
    const table = section.querySelector("[data-migration-table]");
    const caption = table.querySelector("caption");
    table.replaceChildren(caption);
    const head = el("thead");
    const headRow = el("tr");
    headRow.append(el("th", { scope: "col" }, "From \\ To"));
    matrix.labels.forEach(function (label) { headRow.append(el("th", { scope: "col", className: "num" }, label)); });
    headRow.append(el("th", { scope: "col", className: "num" }, "Total"));
    head.append(headRow);
    const body = el("tbody");
    matrix.labels.forEach(function (label, i) {
      const row = el("tr");
      row.append(el("th", { scope: "row" }, label));
      matrix.counts[i].forEach(function (n, j) {
        row.append(el("td", { className: "num" + (i === j ? " diagonal" : n ? " moved" : "") }, count(n)));
      });
      row.append(el("td", { className: "num total" }, count(matrix.row_totals[i])));
      body.append(row);
    });
    const foot = el("tfoot");
    const footRow = el("tr");
    footRow.append(el("th", { scope: "row" }, "Total"));
    matrix.column_totals.forEach(function (n) { footRow.append(el("td", { className: "num total" }, count(n))); });
    footRow.append(el("td", { className: "num total" }, count(matrix.total)));
    foot.append(footRow);
    table.append(head, body, foot);
    section.querySelector("[data-migration-summary]").textContent =
      count(matrix.moved) + " of " + count(matrix.total) +
      " customers changed segment (automatic segments; manual overrides are not part of a run).";
  }

  function initMigration() {
    const section = document.getElementById("migration");
    if (!section) return;
    const typeId = section.dataset.typeId;
    const body = section.querySelector("[data-migration-body]");
    const error = section.querySelector("[data-migration-error]");
    const box = document.getElementById("sankey");
    drawSankey(box, readJson("migration-data"));
    const form = document.getElementById("migration-form");
    async function compare() {
      const fromRun = form.elements.from_run.value;
      const toRun = form.elements.to_run.value;
      section.setAttribute("aria-busy", "true");
      try {
        const matrix = await S.api("GET", "/segment-types/" + typeId + "/migration?from_run=" +
          encodeURIComponent(fromRun) + "&to_run=" + encodeURIComponent(toRun));
        error.hidden = true;
        body.hidden = false;
        renderMatrix(section, matrix);
        drawSankey(box, matrix);
        const url = new URL(window.location.href);
        url.searchParams.set("from_run", fromRun);
        url.searchParams.set("to_run", toRun);
        window.history.replaceState(null, "", url);
      } catch (err) {
        error.textContent = problemText(err);
        error.hidden = false;
        body.hidden = true;
      } finally {
        section.removeAttribute("aria-busy");
      }
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); compare(); });
    form.addEventListener("change", compare);
  }

  // -- the RFM insights page ------------------------------------------------------------------

  function initRfm() {
    const root = document.getElementById("rfm");
    if (!root) return;
    let data = readJson("insights-data");
    const state = readJson("insights-state");
    const picker = readJson("insights-picker");
    const typeId = state.type_id;
    const form = document.getElementById("insights-form");
    const chips = document.getElementById("filter-chips");
    const details = document.getElementById("segment-details");
    const tip = document.getElementById("chart-tip");
    const figure = document.getElementById("rfm-chart");
    const table = document.getElementById("summary-table");
    let sort = { key: null, dir: 1 };
    let request = 0;

    // -- period and filters --
    function queryString() {
      const params = new URLSearchParams();
      params.set("as_of", state.as_of);
      if (state.months !== "type") params.set("months", state.months);
      Object.entries(state.filters).forEach(function ([name, values]) {
        values.forEach(function (v) { params.append(name, v); });
      });
      return params;
    }
    function pageUrl() {
      const params = queryString();
      if (state.months === "type") params.set("months", "type");
      if (state.segment) params.set("segment", state.segment);
      const url = new URL(window.location.href);
      ["from_run", "to_run"].forEach(function (k) {
        if (url.searchParams.has(k)) params.set(k, url.searchParams.get(k));
      });
      return window.location.pathname + "?" + params.toString();
    }
    async function refresh() {
      const mine = ++request;
      root.setAttribute("aria-busy", "true");
      document.getElementById("cards").classList.add("busy");
      try {
        const answer = await S.api("GET", "/segment-types/" + typeId + "/insights?" + queryString().toString());
        if (mine !== request) return; // a newer request is on its way
        data = answer;
        render();
        window.history.replaceState(null, "", pageUrl());
      } catch (err) {
        if (mine === request) S.toast(problemText(err), "error");
      } finally {
        if (mine === request) {
          root.removeAttribute("aria-busy");
          document.getElementById("cards").classList.remove("busy");
        }
      }
    }

    form.addEventListener("submit", function (event) { event.preventDefault(); readPeriod(); refresh(); });
    function readPeriod() {
      if (form.elements.as_of.value) state.as_of = form.elements.as_of.value;
      state.months = form.elements.months.value;
    }
    form.elements.as_of.addEventListener("change", function () {
      if (!form.elements.as_of.value) return;
      readPeriod();
      refresh();
    });
    form.elements.months.addEventListener("change", function () { readPeriod(); refresh(); });

    const filterButton = document.getElementById("filter-button");
    const panel = document.getElementById("filter-panel");
    const dimension = document.getElementById("filter-dimension");
    const valueSelect = document.getElementById("filter-value");
    filterButton.hidden = false;
    function fillValues() {
      const applied = state.filters[dimension.value] || [];
      const values = (picker.values[dimension.value] || []).filter(function (v) { return !applied.includes(v.value); });
      valueSelect.replaceChildren();
      values.forEach(function (v) { valueSelect.append(el("option", { value: v.value }, v.label)); });
      if (!values.length) valueSelect.append(el("option", { value: "" }, "No (more) values"));
      document.getElementById("filter-add").disabled = !values.length;
    }
    function openPanel(open) {
      panel.hidden = !open;
      filterButton.setAttribute("aria-expanded", String(open));
      if (open) { fillValues(); dimension.focus(); }
    }
    filterButton.addEventListener("click", function () { openPanel(panel.hidden); });
    dimension.addEventListener("change", fillValues);
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { openPanel(false); filterButton.focus(); }
    });
    document.getElementById("filter-add").addEventListener("click", function () {
      const name = dimension.value;
      const value = valueSelect.value;
      if (!value) return;
      state.filters[name] = (state.filters[name] || []).concat([value]);
      renderChips();
      openPanel(false);
      filterButton.focus();
      refresh();
    });
    function renderChips() {
      chips.replaceChildren();
      form.querySelectorAll("input[data-filter]").forEach(function (n) { n.remove(); });
      Object.entries(state.filters).forEach(function ([name, values]) {
        values.forEach(function (value) {
          const label = picker.labels[name] + ": " + value;
          const chip = el("li", { className: "chip", "data-dimension": name, "data-value": value });
          const remove = el("a", { className: "chip-remove", href: "#", "aria-label": "Remove filter " + label }, "×");
          chip.append(el("span", {}, label), remove);
          chips.append(chip);
          form.append(el("input", { type: "hidden", name: name, value: value, "data-filter": "" }));
        });
      });
    }
    chips.addEventListener("click", function (event) {
      const remove = event.target.closest(".chip-remove");
      if (!remove) return;
      event.preventDefault();
      const chip = remove.closest(".chip");
      const name = chip.dataset.dimension;
      state.filters[name] = (state.filters[name] || []).filter(function (v) { return v !== chip.dataset.value; });
      if (!state.filters[name].length) delete state.filters[name];
      renderChips();
      filterButton.focus();
      refresh();
    });

    // -- rendering --
    function segmentRow(name) { return data.segments.find(function (s) { return s.name === name; }) || null; }
    function render() {
      const c = data.cards;
      const set = function (key, text) { root.querySelector('[data-card="' + key + '"]').textContent = text; };
      set("active_customers", count(c.active_customers));
      set("total_sales", money(c.total_sales));
      set("customers", count(c.customers));
      const period = root.querySelector('[data-card="period"]');
      period.replaceChildren(el("span", { className: "nowrap" }, c.period_start), document.createTextNode(" – "),
        el("span", { className: "nowrap" }, c.period_end));
      let outside = "";
      if (data.default_segment) outside += count(data.default_customers) + " customers without a purchase in the period are in " + data.default_segment + ". ";
      if (data.unassigned_customers) outside += count(data.unassigned_customers) + " customers have no segment.";
      set("outside", outside);
      const stale = document.getElementById("stale-notice");
      if (c.active_customers > 0) stale.hidden = true;
      root.querySelector("[data-cuts-source]").textContent = data.cuts_source === "suggested"
        ? "Cut points suggested from this data (the type has none saved yet)." : "";
      root.querySelectorAll(".seg").forEach(function (block) {
        const row = segmentRow(block.dataset.segment);
        const n = row ? row.customers : 0;
        block.querySelector("[data-count]").textContent = count(n);
        block.setAttribute("aria-label", block.dataset.segment + ": " + count(n) + " customers");
      });
      renderTable();
      renderDetails();
      renderSetup();
    }

    function renderTable() {
      const body = table.tBodies[0];
      const rows = data.segments.map(function (s, i) { return { s: s, i: i }; });
      if (sort.key) {
        rows.sort(function (a, b) {
          const x = a.s[sort.key];
          const y = b.s[sort.key];
          if (sort.key === "name") return sort.dir * x.localeCompare(y);
          const nx = x === null ? -Infinity : Number(x);
          const ny = y === null ? -Infinity : Number(y);
          return sort.dir * (nx - ny) || a.i - b.i;
        });
      }
      body.replaceChildren();
      rows.forEach(function ({ s, i }) {
        const tr = el("tr", { "data-segment": s.name });
        if (s.name === state.segment) tr.className = "selected";
        const th = el("th", { scope: "row" });
        th.append(el("span", { className: "swatch seg-c" + (i % 12), "aria-hidden": "true" }), document.createTextNode(s.name));
        tr.append(th,
          el("td", { className: "num" }, count(s.customers)),
          el("td", { className: "num" }, pct(s.share_customers_pct)),
          el("td", { className: "num" }, money(s.avg_sales)),
          el("td", { className: "num" }, money(s.sales)),
          el("td", { className: "num" }, pct(s.share_sales_pct)));
        body.append(tr);
      });
    }
    table.tHead.addEventListener("click", function (event) {
      const button = event.target.closest("button[data-sort]");
      if (!button) return;
      const key = button.dataset.sort;
      sort = { key: key, dir: sort.key === key ? -sort.dir : key === "name" ? 1 : -1 };
      table.tHead.querySelectorAll("th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
      button.closest("th").setAttribute("aria-sort", sort.dir === 1 ? "ascending" : "descending");
      renderTable();
    });

    function renderDetails() {
      const s = state.segment ? segmentRow(state.segment) : null;
      details.replaceChildren();
      if (!s) {
        details.append(el("h3", { id: "details-title" }, "Segment details"),
          el("p", { className: "muted" }, "Select a segment in the chart to see its customers, sales, averages and the recommended actions."));
        return;
      }
      details.append(el("h3", { id: "details-title" }, s.name), el("p", { className: "muted" }, s.description));
      const facts = el("dl", { className: "facts" });
      const add = function (label, key, text) {
        facts.append(el("dt", {}, label), el("dd", { "data-detail": key }, text));
      };
      add("Customers", "customers", count(s.customers));
      add("Share of customers", "share_customers_pct", pct(s.share_customers_pct));
      add("Sales", "sales", money(s.sales));
      add("Share of sales", "share_sales_pct", pct(s.share_sales_pct));
      add("Average sales", "avg_sales", money(s.avg_sales));
      add("Average recency", "avg_recency_days", s.avg_recency_days === null ? "—" : avg(s.avg_recency_days) + " days");
      add("Average purchases", "avg_frequency", avg(s.avg_frequency));
      add("Average R / F / M score", "scores", avg(s.avg_r_score) + " / " + avg(s.avg_f_score) + " / " + avg(s.avg_m_score));
      const link = el("a", {
        className: "button primary",
        "data-detail": "link",
        href: "/customers?type=" + typeId + "&segment=" + encodeURIComponent(s.name),
      }, "See the " + count(s.customers) + " customers");
      const linkLine = el("p");
      linkLine.append(link);
      details.append(facts, el("h4", {}, "Recommended actions"),
        el("p", { "data-detail": "recommended_action" }, s.recommended_action || "—"), linkLine);
    }

    // -- the chart: hover/focus tooltip, click/Enter/Space selects --
    function select(name) {
      state.segment = state.segment === name ? null : name;
      root.querySelectorAll(".seg").forEach(function (block) {
        const on = block.dataset.segment === state.segment;
        block.classList.toggle("selected", on);
        if (on) block.setAttribute("aria-current", "true");
        else block.removeAttribute("aria-current");
      });
      renderDetails();
      renderTable();
      window.history.replaceState(null, "", pageUrl());
    }
    function showTip(block, cellName, x, y) {
      const s = segmentRow(block.dataset.segment);
      if (!s) return;
      tip.replaceChildren(el("strong", {}, s.name));
      tip.append(document.createTextNode(count(s.customers) + " customers (" + pct(s.share_customers_pct) + ")"),
        el("br"), document.createTextNode("Sales " + money(s.sales) + " (" + pct(s.share_sales_pct) + ")"));
      if (cellName) {
        const cell = data.cells.find(function (c) { return c.cell === cellName; });
        if (cell) tip.append(el("br"), document.createTextNode("R " + cell.r + " · FM " + cell.fm + ": " + count(cell.customers) + " scored here"));
      }
      tip.hidden = false;
      const box = figure.getBoundingClientRect();
      const left = Math.min(Math.max(x - box.left + 14, 4), box.width - tip.offsetWidth - 4);
      const top = Math.min(y - box.top + 14, box.height - tip.offsetHeight - 4);
      tip.style.left = left + "px"; // CSSOM: allowed by the CSP, unlike a style attribute
      tip.style.top = top + "px";
    }
    function hideTip() { tip.hidden = true; }
    root.querySelectorAll(".seg").forEach(function (block) {
      block.addEventListener("click", function (event) { event.preventDefault(); select(block.dataset.segment); });
      block.addEventListener("keydown", function (event) {
        if (event.key === " " || event.key === "Spacebar") { event.preventDefault(); select(block.dataset.segment); }
        if (event.key === "Escape") hideTip();
      });
      block.addEventListener("mousemove", function (event) {
        const rect = event.target.closest("rect");
        showTip(block, rect ? rect.dataset.cell : null, event.clientX, event.clientY);
      });
      block.addEventListener("mouseleave", hideTip);
      block.addEventListener("focus", function () {
        const r = block.getBoundingClientRect();
        showTip(block, null, r.left + r.width / 2, r.top + r.height / 2);
      });
      block.addEventListener("blur", hideTip);
    });

    // -- the setup dialog: cut points, what-if preview, save --
    const dialog = document.getElementById("setup-dialog");
    const setupForm = document.getElementById("setup-form");
    const saveButton = document.getElementById("setup-save");
    const whatIf = document.getElementById("what-if");
    let previewed = null; // the cut points the shown preview is for (JSON), when current
    document.getElementById("setup-button").addEventListener("click", function () {
      renderSetup();
      dialog.showModal();
    });
    function storedCuts() {
      const cuts = {};
      data.cut_points.forEach(function (m) { cuts[m.metric] = m.cuts.map(plain); });
      return cuts;
    }
    function plain(text) {
      // "30.0000" -> "30", "1250.5000" -> "1250.5": as the number inputs show it
      const s = String(text);
      return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
    }
    function inputCuts() {
      const cuts = {};
      setupForm.querySelectorAll("input[data-cut]").forEach(function (input) {
        (cuts[input.dataset.cut] = cuts[input.dataset.cut] || [])[Number(input.dataset.index)] = input.value.trim();
      });
      return cuts;
    }
    function renderBuckets(cutPoints) {
      cutPoints.forEach(function (m) {
        const body = setupForm.querySelector('[data-buckets="' + m.metric + '"]');
        if (!body) return;
        body.replaceChildren();
        m.buckets.forEach(function (b) {
          const tr = el("tr", b.used ? {} : { className: "unused" });
          tr.append(el("td", {}, String(b.score)), el("td", {}, b.description));
          body.append(tr);
        });
      });
    }
    function renderSetup(force) {
      if (dialog.open && !force) return; // never overwrite what a manager is typing
      const stored = storedCuts();
      setupForm.querySelectorAll("input[data-cut]").forEach(function (input) {
        const values = stored[input.dataset.cut];
        if (values) input.value = values[Number(input.dataset.index)];
        input.classList.remove("changed");
        input.removeAttribute("aria-invalid");
      });
      renderBuckets(data.cut_points);
      resetWhatIf();
    }
    function resetWhatIf() {
      previewed = null;
      if (saveButton) saveButton.disabled = true;
      if (!whatIf) return;
      whatIf.querySelector("[data-what-if-status]").textContent = "Change a cut point to preview its effect.";
      whatIf.querySelector("[data-what-if-moves]").replaceChildren();
      whatIf.querySelector("[data-what-if-error]").hidden = true;
    }
    function changedCuts() {
      const stored = storedCuts();
      const now = inputCuts();
      let changed = false;
      setupForm.querySelectorAll("input[data-cut]").forEach(function (input) {
        const was = stored[input.dataset.cut][Number(input.dataset.index)];
        const differs = input.value.trim() !== was;
        input.classList.toggle("changed", differs);
        changed = changed || differs;
      });
      return changed ? now : null;
    }
    const preview = debounce(async function () {
      const cuts = changedCuts();
      if (!cuts) { renderBuckets(data.cut_points); resetWhatIf(); return; }
      const key = JSON.stringify(cuts);
      const status = whatIf.querySelector("[data-what-if-status]");
      const error = whatIf.querySelector("[data-what-if-error]");
      status.textContent = "Computing the preview…";
      saveButton.disabled = true;
      setupForm.querySelectorAll("input[data-cut]").forEach(function (i) { i.removeAttribute("aria-invalid"); });
      const body = { r: cuts.r, f: cuts.f, m: cuts.m, as_of: state.as_of, filters: state.filters };
      if (state.months !== "type") body.months = Number(state.months);
      try {
        const answer = await S.api("POST", "/segment-types/" + typeId + "/insights/what-if", body);
        if (JSON.stringify(changedCuts()) !== key) return; // edited again meanwhile
        error.hidden = true;
        renderBuckets(answer.cut_points);
        status.textContent = answer.moved === 1
          ? "1 customer would change segment."
          : count(answer.moved) + " customers would change segment.";
        const list = whatIf.querySelector("[data-what-if-moves]");
        list.replaceChildren();
        answer.moves.slice(0, 20).forEach(function (m) {
          list.append(el("li", {}, (m.from_segment || "no segment") + " → " + (m.to_segment || "no segment") + ": " + count(m.customers)));
        });
        previewed = key;
        saveButton.disabled = false;
      } catch (err) {
        status.textContent = "No preview: fix the cut points.";
        error.textContent = problemText(err);
        error.hidden = false;
        if (err instanceof S.ApiError) {
          err.fields.forEach(function (f) {
            const metric = (f.field.match(/(?:cuts\.|^)([rfm])(?:_cuts)?\b/) || [])[1];
            if (metric) setupForm.querySelectorAll('input[data-cut="' + metric + '"]').forEach(function (i) { i.setAttribute("aria-invalid", "true"); });
          });
        }
      }
    }, 350);
    setupForm.addEventListener("input", function (event) {
      if (event.target.matches("input[data-cut]")) { saveButton.disabled = true; preview(); }
    });
    const resetButton = document.getElementById("setup-reset");
    if (resetButton) {
      resetButton.addEventListener("click", function () {
        renderSetup(true);
      });
    }
    dialog.addEventListener("close", function () { renderSetup(); });
    if (saveButton) {
      saveButton.addEventListener("click", async function () {
        const cuts = changedCuts();
        if (!cuts || JSON.stringify(cuts) !== previewed) return;
        saveButton.disabled = true;
        try {
          await S.api("PATCH", "/segment-types/" + typeId, { r_cuts: cuts.r, f_cuts: cuts.f, m_cuts: cuts.m });
          dialog.close();
          S.toast("Cut points saved. Segments follow them from the next run; the chart shows them now.", "ok");
          await refresh();
        } catch (err) {
          S.toast(problemText(err), "error");
          saveButton.disabled = false;
        }
      });
    }
  }

  initMigration();
  initRfm();
})();
