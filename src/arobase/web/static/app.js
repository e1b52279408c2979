// Arobase webmail: progressive enhancement only; every page works without this file.
"use strict";
(function () {
  const body = document.body;
  const csrf = body.dataset.csrf || "";

  // Phone layout: the folder list slides in.
  const menu = document.querySelector(".menu");
  const sidebar = document.getElementById("sidebar");
  if (menu && sidebar) {
    menu.addEventListener("click", () => {
      const open = sidebar.classList.toggle("open");
      menu.setAttribute("aria-expanded", String(open));
    });
  }

  // Language switch submits on change.
  const lang = document.getElementById("lang");
  if (lang) lang.addEventListener("change", () => lang.form.submit());

  // Select all in lists.
  document.querySelectorAll("[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll('input[name="m"][form="bulk"]').forEach((c) => { c.checked = box.checked; });
    });
  });

  // Keyboard shortcuts.
  const rows = Array.from(document.querySelectorAll(".messages tbody tr"));
  let focused = -1;
  function focusRow(i) {
    if (!rows.length) return;
    focused = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, j) => r.classList.toggle("focused", j === focused));
    const link = rows[focused].querySelector("a.open");
    if (link) link.focus();
  }
  function clickKey(key) {
    const el = document.querySelector('[data-key="' + key + '"]');
    if (el) { el.click(); return true; }
    return false;
  }
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (e.key === "/") { const q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } }
    else if (e.key === "c") { window.location.href = "/compose"; }
    else if (e.key === "j") { focusRow(focused + 1); }
    else if (e.key === "k") { focusRow(focused - 1); }
    else if (e.key === "x" && focused >= 0) { const c = rows[focused].querySelector("input[type=checkbox]"); if (c) c.checked = !c.checked; }
    else if (["r", "a", "f", "u", "#"].includes(e.key)) { if (clickKey(e.key)) e.preventDefault(); }
  });

  // Recipient autocomplete from the address book.
  const people = document.getElementById("people");
  document.querySelectorAll("[data-complete]").forEach((input) => {
    let timer = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const term = input.value.split(",").pop().trim();
      if (!term || !people) return;
      timer = setTimeout(async () => {
        const res = await fetch("/contacts/complete?q=" + encodeURIComponent(term), { headers: { "X-Requested-With": "fetch" } });
        if (!res.ok) return;
        const prefix = input.value.includes(",") ? input.value.slice(0, input.value.lastIndexOf(",") + 1) + " " : "";
        people.replaceChildren(...(await res.json()).map((v) => { const o = document.createElement("option"); o.value = prefix + v; return o; }));
      }, 150);
    });
  });

  // Live unread counts over Server-Sent Events.
  if (csrf && window.EventSource) {
    const base = body.dataset.baseTitle || document.title;
    const live = document.querySelector(".live");
    let firstInbox = null;
    const source = new EventSource("/events");
    source.addEventListener("counts", (ev) => {
      const data = JSON.parse(ev.data);
      document.title = (data.inbox ? "(" + data.inbox + ") " : "") + base;
      document.querySelectorAll(".folders a[data-box]").forEach((a) => {
        const count = a.querySelector(".count");
        const n = data.unread[a.dataset.box] || 0;
        if (count) { count.textContent = n ? String(n) : ""; count.hidden = !n; }
      });
      if (firstInbox !== null && data.inbox > firstInbox && live) {
        live.hidden = false;
        live.textContent = "✉ " + data.inbox;
      }
      firstInbox = data.inbox;
    });
    window.addEventListener("pagehide", () => source.close());
  }
})();
