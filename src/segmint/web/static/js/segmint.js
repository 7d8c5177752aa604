// Segmint's shared page script: calls to the REST API with the session's CSRF token, a toast
// for results and errors, and a confirmation dialog. Every page script uses window.Segmint.
(function () {
  "use strict";

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  class ApiError extends Error {
    constructor(problem, status) {
      super((problem && problem.message) || "Request failed (" + status + ")");
      this.status = status;
      this.problem = problem || {};
      this.fields = (problem && problem.fields) || [];
    }
  }

  // fetch() against /api/v1 with JSON in and out; throws ApiError with the API's error shape.
  async function api(method, path, body) {
    const init = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch("/api/v1" + path, init);
    if (response.status === 204) return null;
    let payload = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) payload = await response.json();
    if (!response.ok) throw new ApiError(payload, response.status);
    return payload;
  }

  let toastTimer = null;
  function toast(message, kind) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast" + (kind ? " toast-" + kind : "");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, kind === "error" ? 8000 : 4000);
  }

  // A modal <dialog> asking to confirm; resolves true or false. Keyboard: Enter confirms,
  // Escape cancels (the dialog element does both).
  function confirmDialog(message, confirmLabel) {
    return new Promise(function (resolve) {
      const dialog = document.createElement("dialog");
      dialog.className = "confirm";
      const text = document.createElement("p");
      text.textContent = message;
      const form = document.createElement("form");
      form.method = "dialog";
      const cancel = document.createElement("button");
      cancel.value = "cancel";
      cancel.textContent = "Cancel";
      const ok = document.createElement("button");
      ok.value = "ok";
      ok.className = "primary";
      ok.textContent = confirmLabel || "OK";
      form.append(cancel, ok);
      dialog.append(text, form);
      document.body.append(dialog);
      dialog.addEventListener("close", function () {
        resolve(dialog.returnValue === "ok");
        dialog.remove();
      });
      dialog.showModal();
      ok.focus();
    });
  }

  function formatNumber(value, decimals) {
    const n = Number(value);
    if (!isFinite(n)) return "—";
    return n.toLocaleString("en-US", {
      minimumFractionDigits: decimals || 0,
      maximumFractionDigits: decimals || 0,
    });
  }

  window.Segmint = { api: api, ApiError: ApiError, toast: toast, confirm: confirmDialog, formatNumber: formatNumber, csrfToken: csrfToken };
})();
