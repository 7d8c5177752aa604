// The Customers pages: rows that expand to every segment type, tooltips that Escape hides, and
// the segment dialog, which sets or clears a customer's manual segment through the REST API.
// The types and their segments come from <script type="application/json" id="segment-types">.
(function () {
  "use strict";

  const dataNode = document.getElementById("segment-types");
  if (!dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const types = new Map(data.types.map(function (t) { return [String(t.id), t]; }));

  const dialog = document.getElementById("segment-dialog");
  const form = document.getElementById("segment-form");
  const title = document.getElementById("segment-dialog-title");
  const info = document.getElementById("segment-dialog-info");
  const choice = document.getElementById("segment-choice");
  const reason = document.getElementById("segment-reason");
  const error = document.getElementById("segment-error");
  const save = document.getElementById("segment-save");
  let current = null; // {holder: the .seg element, button: the button that opened the dialog}

  // -- expanding rows ---------------------------------------------------------------------
  function toggle(button) {
    const row = document.getElementById(button.getAttribute("aria-controls"));
    if (!row) return;
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    row.hidden = !open;
  }

  // -- the segment dialog -----------------------------------------------------------------
  function openDialog(holder, button) {
    const type = types.get(holder.dataset.typeId);
    if (!type || !dialog) return;
    const manual = holder.dataset.manual;
    const automatic = holder.dataset.automatic;
    title.textContent = "Segment of " + holder.dataset.customer + " in " + type.name;
    info.textContent = "Automatic segment: " + (automatic || "none") + ". " +
      (manual ? "Set by hand: " + manual + "." : "No manual segment.");
    choice.replaceChildren();
    choice.add(new Option("(blank) use the automatic segment" + (automatic ? " (" + automatic + ")" : ""), ""));
    type.segments.forEach(function (name) { choice.add(new Option(name, name)); });
    choice.value = manual || "";
    reason.value = "";
    showError("");
    current = { holder: holder, button: button };
    dialog.showModal();
    choice.focus();
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  async function submit(event) {
    event.preventDefault();
    if (!current) return;
    const holder = current.holder;
    const typeId = holder.dataset.typeId;
    const manual = holder.dataset.manual;
    const chosen = choice.value;
    const why = reason.value.trim() || null;
    const body = { customer_key: holder.dataset.key, reason: why };
    let message = null;
    save.disabled = true;
    try {
      if (chosen === "" && manual) {
        await Segmint.api("POST", "/segment-types/" + typeId + "/overrides/clear", body);
        message = "Manual segment cleared: the automatic segment applies.";
      } else if (chosen !== "" && (chosen !== manual || why)) {
        body.segment = chosen;
        await Segmint.api("POST", "/segment-types/" + typeId + "/overrides", body);
        message = "Segment set to " + chosen + ".";
      }
      if (message && data.reload) {
        window.location.reload();
        return;
      }
      if (message) await refresh(holder.dataset.customer);
      dialog.close();
      if (message) Segmint.toast(message, "ok");
    } catch (err) {
      const fields = (err.fields || []).map(function (f) { return f.field + ": " + f.message; });
      showError([err.message].concat(fields).join(" "));
    } finally {
      save.disabled = false;
    }
  }

  // Show a customer's segments as the API now has them, in every place the page shows them.
  async function refresh(customerId) {
    const customer = await Segmint.api("GET", "/customers/" + encodeURIComponent(customerId));
    const byType = new Map(customer.segments.map(function (s) { return [String(s.type_id), s]; }));
    document.querySelectorAll(".seg").forEach(function (holder) {
      if (holder.dataset.customer !== customerId) return;
      const s = byType.get(holder.dataset.typeId) || {};
      holder.dataset.manual = s.manual || "";
      holder.dataset.automatic = s.automatic || "";
      holder.dataset.reason = s.reason || "";
      holder.classList.toggle("is-manual", Boolean(s.manual));
      setField(holder, "effective", s.effective || "—");
      setField(holder, "automatic", s.automatic || "—");
      setField(holder, "manual", s.manual || "—");
      setField(holder, "reason", s.reason ? " (" + s.reason + ")" : "");
      const mark = holder.querySelector('[data-f="mark"]');
      if (mark) mark.hidden = !s.manual;
      const row = holder.closest("tr");
      const cell = row && row.querySelector('[data-f="manual-cell"]');
      if (cell) cell.textContent = s.manual ? s.manual + (s.reason ? " (" + s.reason + ")" : "") : "—";
    });
  }

  function setField(holder, name, text) {
    const node = holder.querySelector('[data-f="' + name + '"]');
    if (node) node.textContent = text;
  }

  // -- events -----------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const expand = event.target.closest("button.expand");
    if (expand) {
      toggle(expand);
      return;
    }
    const button = event.target.closest(".seg-button");
    if (button) openDialog(button.closest(".seg"), button);
  });

  // Filter menus: one open at a time; a click elsewhere or Escape closes them.
  function closeMenus(except) {
    document.querySelectorAll("details.filter-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.querySelectorAll("details.filter-menu").forEach(function (menu) {
    menu.addEventListener("toggle", function () { if (menu.open) closeMenus(menu); });
  });
  document.addEventListener("click", function (event) {
    if (!event.target.closest("details.filter-menu")) closeMenus(null);
  });
  document.addEventListener("keydown", function (event) {
    const menu = event.key === "Escape" && event.target.closest && event.target.closest("details.filter-menu[open]");
    if (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });

  // Escape hides an open tooltip without moving focus (WCAG 1.4.13); leaving shows it again.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || (dialog && dialog.open)) return;
    const holder = document.activeElement && document.activeElement.closest(".seg");
    document.querySelectorAll(".seg:hover").forEach(function (h) { h.classList.add("tip-off"); });
    if (holder) holder.classList.add("tip-off");
  });
  ["focusout", "mouseout"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      const holder = event.target.closest && event.target.closest(".seg");
      if (holder) holder.classList.remove("tip-off");
    });
  });

  if (dialog) {
    form.addEventListener("submit", submit);
    document.getElementById("segment-cancel").addEventListener("click", function () {
      dialog.close();
    });
    dialog.addEventListener("close", function () {
      if (current && current.button && document.contains(current.button)) current.button.focus();
      current = null;
    });
  }
})();
