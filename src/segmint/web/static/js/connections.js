// Settings > Connections: invite an organization, accept or decline an invitation, end a
// connection or withdraw an invitation, through the REST API (admins; the API refuses others).
// Each success reloads the page, which the server renders from the new state.
(function () {
  "use strict";

  const form = document.getElementById("invite-form");
  const slug = document.getElementById("invite-slug");
  const error = document.getElementById("invite-error");

  function showError(message) {
    if (!error) return;
    error.textContent = message;
    error.hidden = !message;
    if (slug) slug.setAttribute("aria-invalid", message ? "true" : "false");
  }

  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      showError("");
      const button = document.getElementById("invite-button");
      button.disabled = true;
      try {
        const made = await Segmint.api("POST", "/connections", { slug: slug.value.trim() });
        Segmint.toast("Invitation sent to " + made.partner_name, "ok");
        window.location.reload();
      } catch (failure) {
        const field = (failure.fields || []).find(function (f) { return f.field === "slug"; });
        showError(field ? field.message : failure.message);
        slug.focus();
      } finally {
        button.disabled = false;
      }
    });
  }

  const QUESTIONS = {
    accept: ["Connect with {name}? You will see each other's shared segment types.", "Accept", "accept"],
    decline: ["Decline the invitation from {name}?", "Decline", "decline"],
    end: ["End the connection with {name}? Neither side will see the other's shared segment types any more.", "End connection", "end"],
    withdraw: ["Withdraw your invitation to {name}?", "Withdraw", "end"],
  };

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const question = QUESTIONS[button.dataset.action];
    if (!question) return;
    const name = button.dataset.partnerName || "this organization";
    if (!(await Segmint.confirm(question[0].replace("{name}", name), question[1]))) return;
    button.disabled = true;
    try {
      await Segmint.api("POST", "/connections/" + button.dataset.id + "/" + question[2]);
      window.location.reload();
    } catch (failure) {
      Segmint.toast(failure.message, "error");
      button.disabled = false;
    }
  });
})();
