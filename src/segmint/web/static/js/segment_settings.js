// Settings > Customer segments: the create form, edit mode (the type's fields and its
// segments) and the view page's actions (Auto Assign with live progress, Clear Manual Segments,
// delete). Every write goes through the REST API (window.Segmint.api); the API's field errors
// ({field, message}) are shown next to their fields. No inline script or style: the CSP forbids
// them, so the pages hand their data over in data-* attributes.
(function () {
  "use strict";

  const S = window.Segmint;
  const FLASH_KEY = "segmint.settings.flash";
  const POLL_MS = 600;

  // -- a message that survives one navigation (shown as a toast on the next page) -----------

  function flash(message) {
    try { sessionStorage.setItem(FLASH_KEY, message); } catch (e) { /* private mode: skip */ }
  }

  function showFlash() {
    let message = null;
    try {
      message = sessionStorage.getItem(FLASH_KEY);
      sessionStorage.removeItem(FLASH_KEY);
    } catch (e) { /* private mode: nothing stored */ }
    if (message) S.toast(message, "ok");
  }

  // -- unsaved changes ------------------------------------------------------------------------

  const dirtyForms = new Set();
  function trackDirty(form) {
    form.addEventListener("input", function () { dirtyForms.add(form); });
    form.addEventListener("change", function () { dirtyForms.add(form); });
  }
  window.addEventListener("beforeunload", function (event) {
    if (dirtyForms.size) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // -- field errors ---------------------------------------------------------------------------

  let errorSeq = 0;

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for], [data-form-error]").forEach(function (slot) {
      slot.textContent = "";
      slot.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".bad").forEach(function (el) { el.classList.remove("bad"); });
  }

  // The API prefixes some messages with the field ("segments[1].threshold: ..."); next to the
  // field that prefix is noise.
  function withoutPrefix(message, field) {
    const prefix = field + ": ";
    return message.startsWith(prefix) ? message.slice(prefix.length) : message;
  }

  function showError(slot, message, input) {
    const text = slot.textContent ? slot.textContent + " " + message : message;
    slot.textContent = text;
    slot.hidden = false;
    if (!input) return;
    input.setAttribute("aria-invalid", "true");
    if (!slot.id) slot.id = "field-error-" + (++errorSeq);
    const described = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (!described.includes(slot.id)) {
      described.push(slot.id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
  }

  function formError(form, message) {
    const slot = form.querySelector("[data-form-error]");
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
    } else {
      S.toast(message, "error");
    }
  }

  function focusFirstProblem(form) {
    const target = form.querySelector("[aria-invalid='true']") ||
      form.querySelector("[data-error-for]:not([hidden]), [data-form-error]:not([hidden])");
    if (!target) return;
    if (!target.matches("input, select, textarea, button")) target.tabIndex = -1;
    const details = target.closest("details");
    if (details) details.open = true;
    target.focus();
  }

  // Shows an API error on a form: each field error next to its field (locate(field) returns
  // {slot, input} or null), the rest at the top. Returns nothing; the form stays as typed.
  function showApiError(form, error, locate) {
    if (!(error instanceof S.ApiError)) {
      formError(form, "Not saved: the server could not be reached (" + error.message + "). Your changes are still here; try again.");
      return;
    }
    const fields = error.fields || [];
    let placed = 0;
    fields.forEach(function (problem) {
      const found = locate(problem.field || "");
      if (found && found.slot) {
        showError(found.slot, withoutPrefix(problem.message, problem.field), found.input);
        placed += 1;
      }
    });
    if (placed === fields.length && placed > 0) {
      formError(form, "Not saved: please fix the field" + (placed > 1 ? "s" : "") + " marked below.");
    } else {
      formError(form, "Not saved: " + error.message);
    }
    focusFirstProblem(form);
  }

  function setBusy(button, busy) {
    if (!button) return;
    button.disabled = busy;
    button.setAttribute("aria-busy", busy ? "true" : "false");
  }

  // -- numbers as typed ----------------------------------------------------------------------

  // A whole number, or the text as typed (the API then names the field and the problem), or
  // null for an empty input.
  function wholeOrText(value, emptyAs) {
    const text = String(value).trim();
    if (text === "") return emptyAs;
    return /^-?\d+$/.test(text) ? Number(text) : text;
  }

  // Number inputs holding something that is not a number report an empty value; say so instead
  // of sending 0. Returns true when every number input of the scope is readable.
  function checkNumberInputs(scope, slotFor) {
    let ok = true;
    scope.querySelectorAll("input[type='number']").forEach(function (input) {
      if (input.validity && input.validity.badInput) {
        const slot = slotFor(input);
        if (slot) showError(slot, "Enter a number.", input);
        ok = false;
      }
    });
    return ok;
  }

  // -- the type's own fields (create form and edit mode) --------------------------------------

  function splitList(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function typeMethod(form) {
    if (form.dataset.mode === "create") {
      const checked = form.querySelector("input[name='method']:checked");
      return checked ? checked.value : "pareto";
    }
    return document.getElementById("edit-page").dataset.method;
  }

  function typeBody(form) {
    const el = {};
    ["name", "identity", "is_default", "shared", "notify", "timespan_months", "interval",
      "schedule", "run_after_import", "branches", "brands", "min_sales"].forEach(function (name) {
      el[name] = form.elements.namedItem(name);
    });
    const method = typeMethod(form);
    const body = {
      name: el.name.value.trim(),
      identity: el.identity.value,
      is_default: el.is_default.checked,
      shared: el.shared.checked,
      notify: el.notify.checked,
      timespan_months: wholeOrText(el.timespan_months.value, ""),
      interval: el.interval.value,
      schedule: el.schedule.value.trim() || null,
      run_after_import: el.run_after_import.checked,
    };
    if (form.dataset.mode === "create") body.method = method;
    if (method === "pareto") {
      body.branches = splitList(el.branches.value);
      body.brands = splitList(el.brands.value);
      body.min_sales = el.min_sales.value.trim() || "0";
    }
    return body;
  }

  function locateTypeField(form) {
    return function (field) {
      const name = field.replace(/\[\d+\].*$/, "").replace(/^body\./, "");
      const slot = form.querySelector("[data-error-for='" + CSS.escape(name) + "']");
      if (!slot) return null;
      const input = form.elements.namedItem(name);
      return { slot: slot, input: input instanceof Element ? input : null };
    };
  }

  function syncMethod(form) {
    const pareto = typeMethod(form) === "pareto";
    form.querySelectorAll("[data-pareto-only]").forEach(function (box) {
      box.hidden = !pareto;
      box.disabled = !pareto;
    });
  }

  function initTypeForm(form) {
    trackDirty(form);
    syncMethod(form);
    form.querySelectorAll("input[name='method']").forEach(function (radio) {
      radio.addEventListener("change", function () { syncMethod(form); });
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      clearErrors(form);
      const slotFor = function (input) { return form.querySelector("[data-error-for='" + input.name + "']"); };
      if (!checkNumberInputs(form, slotFor)) {
        formError(form, "Not saved: please fix the fields marked below.");
        focusFirstProblem(form);
        return;
      }
      const button = form.querySelector("button[type='submit']");
      const note = form.querySelector(".saved-note");
      if (note) note.textContent = "";
      setBusy(button, true);
      try {
        if (form.dataset.mode === "create") {
          const created = await S.api("POST", "/segment-types", typeBody(form));
          dirtyForms.delete(form);
          flash("Segment type \u201c" + created.name + "\u201d created.");
          window.location.assign("/settings/segments/" + created.id);
          return;
        }
        const page = document.getElementById("edit-page");
        const saved = await S.api("PATCH", "/segment-types/" + page.dataset.typeId, typeBody(form));
        dirtyForms.delete(form);
        const heading = document.querySelector(".page-head h1");
        if (heading) heading.textContent = "Edit " + saved.name;
        if (note) note.textContent = "Settings saved.";
        S.toast("Settings of \u201c" + saved.name + "\u201d saved.", "ok");
      } catch (error) {
        showApiError(form, error, locateTypeField(form));
      } finally {
        setBusy(button, false);
      }
    });
  }

  // -- edit mode: the segments ---------------------------------------------------------------

  function rows(form) {
    return Array.from(form.querySelectorAll("#segment-rows > tr"));
  }

  function field(row, name) {
    return row.querySelector("[data-field='" + name + "']");
  }

  // Thresholds are summed in ten-thousandths of a percent (the API keeps 4 decimals), so
  // 33.3333 + 33.3333 + 33.3334 is exactly 100 and not 99.99999999.
  function thresholdUnits(text) {
    const n = Number(String(text).trim() || "0");
    return isFinite(n) ? Math.round(n * 10000) : NaN;
  }

  function formatPercent(units) {
    return (units / 10000).toLocaleString("en-US", { maximumFractionDigits: 4 }) + " %";
  }

  function updateTotal(form) {
    const output = document.getElementById("threshold-total");
    if (!output) return;
    let units = 0;
    rows(form).forEach(function (row) {
      if (!field(row, "excluded").checked) units += thresholdUnits(field(row, "threshold").value);
    });
    const bad = !(units === 1000000);
    output.textContent = isNaN(units) ? "— %" : formatPercent(units) + (bad ? " (must be 100 %)" : "");
    output.classList.toggle("total-bad", bad);
    output.classList.toggle("total-ok", !bad);
  }

  // Accessible names that say which segment a button acts on ("Move B up", "Remove B").
  function relabel(form) {
    rows(form).forEach(function (row, i) {
      const name = field(row, "name").value.trim() || "new segment " + (i + 1);
      row.querySelector("[data-move='up']").setAttribute("aria-label", "Move " + name + " up");
      row.querySelector("[data-move='down']").setAttribute("aria-label", "Move " + name + " down");
      row.querySelector("[data-action='remove']").setAttribute("aria-label", "Remove " + name);
    });
  }

  function segmentBody(row, method) {
    const segment = {
      name: field(row, "name").value,
      visit_every_days: wholeOrText(field(row, "visit_every_days").value, null),
      priority: wholeOrText(field(row, "priority").value, null),
      is_default: field(row, "is_default").checked,
      excluded: field(row, "excluded").checked,
      description: field(row, "description").value,
      recommended_action: field(row, "recommended_action").value,
    };
    if (row.dataset.id) segment.id = Number(row.dataset.id);
    if (method === "pareto") {
      segment.threshold = field(row, "threshold").value.trim() || "0";
    } else {
      segment.cells = field(row, "cells").value.split(/[\s,;]+/).filter(Boolean);
    }
    return segment;
  }

  function locateSegmentField(form) {
    return function (name) {
      const inRow = /^segments\[(\d+)\](?:\.(\w+))?/.exec(name);
      if (inRow) {
        const row = rows(form)[Number(inRow[1])];
        if (!row) return null;
        const attr = inRow[2] && row.querySelector("[data-error-for='" + inRow[2] + "']") ? inRow[2] : "name";
        return { slot: row.querySelector("[data-error-for='" + attr + "']"), input: field(row, attr) };
      }
      if (name === "segments.threshold") {
        const output = document.getElementById("threshold-total");
        if (output) output.classList.add("bad");
        return { slot: form.querySelector("[data-error-for='segments.threshold']"), input: null };
      }
      const slot = form.querySelector("[data-error-for='" + CSS.escape(name) + "']") ||
        form.querySelector("[data-error-for='segments']");
      return { slot: slot, input: null };
    };
  }

  function syncExcluded(row) {
    const threshold = field(row, "threshold");
    if (!threshold) return;
    if (field(row, "excluded").checked) {
      threshold.value = "0";
      threshold.readOnly = true;
    } else {
      threshold.readOnly = false;
    }
  }

  function initSegmentsForm(form) {
    const page = document.getElementById("edit-page");
    const method = page.dataset.method;
    const body = document.getElementById("segment-rows");
    const template = document.getElementById("segment-row-template");
    trackDirty(form);

    body.addEventListener("input", function (event) {
      if (event.target.matches("[data-field='threshold']")) updateTotal(form);
      if (event.target.matches("[data-field='name']")) relabel(form);
    });
    body.addEventListener("change", function (event) {
      const target = event.target;
      const row = target.closest("tr");
      if (target.matches("[data-field='excluded']")) {
        syncExcluded(row);
        updateTotal(form);
      }
      // At most one default per type: checking one unchecks the others.
      if (target.matches("[data-field='is_default']") && target.checked) {
        rows(form).forEach(function (other) {
          if (other !== row) field(other, "is_default").checked = false;
        });
      }
    });
    body.addEventListener("click", function (event) {
      const button = event.target.closest("button");
      if (!button) return;
      const row = button.closest("tr");
      if (button.dataset.move === "up" && row.previousElementSibling) {
        body.insertBefore(row, row.previousElementSibling);
      } else if (button.dataset.move === "down" && row.nextElementSibling) {
        body.insertBefore(row.nextElementSibling, row);
      } else if (button.dataset.action === "remove") {
        const next = row.nextElementSibling || row.previousElementSibling;
        const name = field(row, "name").value.trim() || "The new segment";
        row.remove();
        const focusTarget = next ? next.querySelector("[data-action='remove']") : form.querySelector("[data-action='add']");
        focusTarget.focus();
        S.toast(name + " removed: save the segments to keep the change.", "ok");
      } else {
        return;
      }
      if (button.dataset.move) button.focus();
      dirtyForms.add(form);
      relabel(form);
      updateTotal(form);
    });
    form.querySelector("[data-action='add']").addEventListener("click", function () {
      const row = template.content.firstElementChild.cloneNode(true);
      body.append(row);
      dirtyForms.add(form);
      relabel(form);
      updateTotal(form);
      field(row, "name").focus();
    });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      clearErrors(form);
      const slotFor = function (input) {
        return input.closest("td").querySelector("[data-error-for='" + input.dataset.field + "']");
      };
      if (!checkNumberInputs(form, slotFor)) {
        formError(form, "Not saved: please fix the fields marked below.");
        focusFirstProblem(form);
        return;
      }
      const button = form.querySelector("button[type='submit']");
      const note = form.querySelector(".saved-note");
      note.textContent = "";
      setBusy(button, true);
      const current = rows(form);
      try {
        const saved = await S.api("PUT", "/segment-types/" + page.dataset.typeId + "/segments", {
          segments: current.map(function (row) { return segmentBody(row, method); }),
        });
        // New rows now exist: keep their ids so the next save edits instead of adding again.
        saved.segments.forEach(function (segment, i) {
          if (current[i]) current[i].dataset.id = String(segment.id);
        });
        dirtyForms.delete(form);
        note.textContent = "Segments saved.";
        S.toast("Segments saved.", "ok");
      } catch (error) {
        showApiError(form, error, locateSegmentField(form));
      } finally {
        setBusy(button, false);
      }
    });

    rows(form).forEach(syncExcluded);
    relabel(form);
    updateTotal(form);
  }

  // -- view mode: Auto Assign, Clear Manual Segments, Delete ----------------------------------

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function percentText(progress) {
    return Math.round(Math.max(0, Math.min(1, progress || 0)) * 100) + " %";
  }

  async function reloadResults(typeId) {
    const response = await fetch("/settings/segments/" + typeId + "/results", {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
    if (!response.ok) return;
    const html = await response.text();
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
    const old = document.getElementById("results");
    if (fresh && old) old.replaceWith(document.importNode(fresh, true));
  }

  function initTypePage(page) {
    const typeId = page.dataset.typeId;
    const typeName = page.dataset.typeName;
    const runButton = page.querySelector("[data-action='run']");
    const clearButton = page.querySelector("[data-action='clear']");
    const deleteButton = page.querySelector("[data-action='delete']");
    const box = page.querySelector(".run-progress");
    const bar = box.querySelector("progress");
    const stage = box.querySelector(".run-stage");
    let watching = null;

    function show(text, state) {
      box.hidden = false;
      stage.textContent = text;
      box.dataset.state = state;
    }

    async function watch(runId) {
      if (watching === runId) return;
      watching = runId;
      setBusy(runButton, true);
      let failures = 0;
      try {
        for (;;) {
          let run;
          try {
            run = await S.api("GET", "/runs/" + runId);
            failures = 0;
          } catch (error) {
            failures += 1;
            if (failures >= 5) {
              show("Lost track of run " + runId + " (" + error.message + "); reload the page to see it.", "failed");
              return;
            }
            await sleep(POLL_MS * failures);
            continue;
          }
          bar.value = run.status === "succeeded" ? 1 : run.progress;
          if (run.status === "succeeded") {
            const customers = run.summary && run.summary.customers;
            show("Done: run " + run.id + " assigned " + S.formatNumber(customers || 0) + " customers.", "done");
            S.toast("Auto-assignment of \u201c" + typeName + "\u201d done.", "ok");
            await reloadResults(typeId);
            return;
          }
          if (run.status === "failed") {
            show("Run " + run.id + " failed: " + (run.error || "unknown error") + " The previous result is unchanged.", "failed");
            S.toast("Auto-assignment failed.", "error");
            await reloadResults(typeId);
            return;
          }
          const label = run.status === "queued" ? "Queued, waiting for a worker" : "Running: " + run.stage;
          show(label + "… " + percentText(run.progress), "running");
          await sleep(POLL_MS);
        }
      } finally {
        watching = null;
        setBusy(runButton, false);
      }
    }

    runButton.addEventListener("click", async function () {
      const ok = await S.confirm(
        "Assign segments to every customer of \u201c" + typeName + "\u201d from the current sales data? " +
        "The automatic segments are replaced when the run is done; manual segments stay.",
        "Auto Assign"
      );
      if (!ok) return;
      setBusy(runButton, true);
      try {
        const run = await S.api("POST", "/segment-types/" + typeId + "/runs", {});
        bar.value = 0;
        show("Queued, waiting for a worker… 0 %", "running");
        watch(run.id);
      } catch (error) {
        setBusy(runButton, false);
        S.toast("Could not start the run: " + error.message, "error");
      }
    });

    clearButton.addEventListener("click", async function () {
      const count = Number(page.dataset.overrides || "0");
      const ok = await S.confirm(
        "Remove all " + S.formatNumber(count) + " manual segments of \u201c" + typeName + "\u201d? " +
        "Those customers get their automatic segment again. This cannot be undone.",
        "Clear Manual Segments"
      );
      if (!ok) return;
      setBusy(clearButton, true);
      try {
        const result = await S.api("POST", "/segment-types/" + typeId + "/overrides/clear-all");
        page.dataset.overrides = "0";
        page.querySelector("[data-testid='override-count']").textContent = "0";
        S.toast("Removed " + S.formatNumber(result.count) + " manual segment" + (result.count === 1 ? "" : "s") + ".", "ok");
      } catch (error) {
        S.toast("Manual segments not cleared: " + error.message, "error");
      } finally {
        setBusy(clearButton, false);
      }
    });

    deleteButton.addEventListener("click", async function () {
      const ok = await S.confirm(
        "Delete \u201c" + typeName + "\u201d with its segments, runs, manual segments and history? " +
        "This cannot be undone.",
        "Delete type"
      );
      if (!ok) return;
      setBusy(deleteButton, true);
      try {
        await S.api("DELETE", "/segment-types/" + typeId);
        flash("Segment type \u201c" + typeName + "\u201d deleted.");
        window.location.assign("/settings/segments");
      } catch (error) {
        setBusy(deleteButton, false);
        S.toast("Not deleted: " + error.message, "error");
      }
    });

    const results = document.getElementById("results");
    const active = results && results.dataset.activeRun;
    if (active) {
      bar.value = 0;
      show("A run is in progress…", "running");
      watch(Number(active));
    }
  }

  // -- start ---------------------------------------------------------------------------------

  showFlash();
  const typeForm = document.getElementById("type-form");
  if (typeForm) initTypeForm(typeForm);
  const segmentsForm = document.getElementById("segments-form");
  if (segmentsForm) initSegmentsForm(segmentsForm);
  const typePage = document.getElementById("type-page");
  if (typePage) initTypePage(typePage);
})();
