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

  // Selection: shift-click on a checkbox sets every box between it and the previous click alike.
  const boxes = () => Array.from(document.querySelectorAll('input[name="m"][form="bulk"]'));
  let lastBox = null;
  document.addEventListener("click", (e) => {
    const box = e.target.closest && e.target.closest('input[name="m"][form="bulk"]');
    if (!box) return;
    const all = boxes();
    if (e.shiftKey && lastBox && all.includes(lastBox)) {
      const [a, b] = [all.indexOf(lastBox), all.indexOf(box)].sort((x, y) => x - y);
      all.slice(a, b + 1).forEach((c) => { c.checked = box.checked; });
    }
    lastBox = box;
  });

  // Moving by drag and drop: the selected rows (or the dragged one) dropped on a folder of the tree.
  const DRAG_TYPE = "application/x-arobase-messages";
  const rowsBody = document.querySelector("table.messages tbody");
  if (rowsBody && csrf) {
    rowsBody.addEventListener("dragstart", (e) => {
      const row = e.target.closest && e.target.closest("tr");
      const own = row && row.querySelector('input[name="m"]');
      if (!own) return;
      if (!own.checked) { boxes().forEach((c) => { c.checked = false; }); own.checked = true; }
      const refs = boxes().filter((c) => c.checked).map((c) => c.value);
      e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(refs));
      e.dataTransfer.setData("text/plain", refs.length + " ✉");
      e.dataTransfer.effectAllowed = "move";
    });
    document.querySelectorAll(".folders a[data-box]").forEach((folder) => {
      folder.addEventListener("dragover", (e) => {
        if (!e.dataTransfer.types.includes(DRAG_TYPE)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
        folder.classList.add("drop");
      });
      folder.addEventListener("dragleave", () => folder.classList.remove("drop"));
      folder.addEventListener("drop", async (e) => {
        folder.classList.remove("drop");
        const refs = JSON.parse(e.dataTransfer.getData(DRAG_TYPE) || "[]");
        if (!refs.length) return;
        e.preventDefault();
        const data = new FormData();
        data.set("action", "move");
        data.set("target", folder.dataset.box);
        refs.forEach((r) => data.append("m", r));
        const res = await fetch("/actions", { method: "POST", body: data, headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf } });
        if (res.ok) window.location.reload();  // the list without them, and the "Moved to" notice
      });
    });
  }

  // Keyboard shortcuts.
  let focused = -1;
  function focusRow(i) {
    const rows = Array.from(document.querySelectorAll(".messages tbody tr"));
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
  // The shortcuts help: a modal dialog, focus kept inside while open and given back on closing.
  const help = document.getElementById("shortcuts");
  const helpButton = document.querySelector(".help-open");
  let beforeHelp = null;
  function openHelp() {
    if (!help || help.open) return;
    beforeHelp = document.activeElement;
    help.showModal();
    help.querySelector("button").focus();
  }
  if (help && helpButton) {
    helpButton.hidden = false;
    helpButton.addEventListener("click", openHelp);
    help.addEventListener("close", () => {
      if (beforeHelp && beforeHelp.focus) beforeHelp.focus();
      beforeHelp = null;
    });
    help.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const inside = Array.from(help.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])"));
      const first = inside[0], last = inside[inside.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
    });
  }

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (help && help.open) return;  // Esc and Tab are the dialog's own
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (e.key === "?") { e.preventDefault(); openHelp(); }
    else if (e.key === "/") { const q = document.getElementById("q"); if (q) { e.preventDefault(); q.focus(); } }
    else if (e.key === "c") { window.location.href = "/compose"; }
    else if (e.key === "j") { focusRow(focused + 1); }
    else if (e.key === "k") { focusRow(focused - 1); }
    else if (e.key === "x" && focused >= 0) {
      const row = document.querySelectorAll(".messages tbody tr")[focused];
      const c = row && row.querySelector("input[type=checkbox]");
      if (c) c.checked = !c.checked;
    }
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

  // Writing: a small rich-text editor over the plain textarea (which is what is sent without JS),
  // drafts saved automatically, and the attachment size limit checked before sending.
  const composeForm = document.querySelector("form[data-compose]");
  if (composeForm) {
    const textarea = composeForm.querySelector("textarea[name=body]");
    const htmlField = composeForm.querySelector("input[name=html]");
    const toolbar = composeForm.querySelector(".toolbar");
    const editor = document.createElement("div");
    editor.className = "editor";
    editor.contentEditable = "true";
    editor.setAttribute("role", "textbox");
    editor.setAttribute("aria-multiline", "true");
    editor.setAttribute("aria-label", document.querySelector('label[for="body"]').textContent);
    editor.id = "editor";

    const escapeHtml = (t) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    function textToHtml(text) {
      // Runs of "> " lines become a blockquote (nested for ">>"), other lines keep their breaks.
      const lines = text.replace(/\r\n/g, "\n").split("\n");
      let out = "";
      for (let i = 0; i < lines.length; ) {
        if (/^>/.test(lines[i])) {
          const quoted = [];
          while (i < lines.length && /^>/.test(lines[i])) quoted.push(lines[i++].replace(/^> ?/, ""));
          out += "<blockquote>" + textToHtml(quoted.join("\n")) + "</blockquote>";
        } else {
          out += "<div>" + (escapeHtml(lines[i]) || "<br>") + "</div>";
          i++;
        }
      }
      return out;
    }
    const saved = document.getElementById("draft-html");  // a resumed draft's rich text, cleaned by the server
    editor.innerHTML = (saved && saved.value) || textToHtml(textarea.value);
    textarea.hidden = true;
    textarea.removeAttribute("id");
    textarea.parentNode.insertBefore(editor, textarea);
    document.querySelector('label[for="body"]').setAttribute("for", "editor");
    toolbar.hidden = false;
    toolbar.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-command]");
      if (!button) return;
      editor.focus();
      const command = button.dataset.command;
      if (command === "createLink") {
        const url = (window.prompt(button.dataset.prompt || "URL", "https://") || "").trim();
        if (/^(https?:\/\/|mailto:)\S+$/i.test(url)) document.execCommand("createLink", false, url);
      } else if (command === "quote") {
        document.execCommand("formatBlock", false, "blockquote");
      } else {
        document.execCommand(command, false);
      }
      dirty = true;
    });
    function sync() {
      htmlField.value = editor.innerHTML;
      textarea.value = editor.innerText;
    }

    // Attachment size limit.
    const files = composeForm.querySelector("input[type=file]");
    const limitNote = document.getElementById("files-limit");
    const max = Number(files.dataset.max || 0);
    files.addEventListener("change", () => {
      const total = Array.from(files.files).reduce((n, f) => n + f.size, 0);
      const tooLarge = max > 0 && total > max;
      files.setCustomValidity(tooLarge ? limitNote.dataset.tooLarge : "");
      limitNote.classList.toggle("error", tooLarge);
      if (tooLarge) files.reportValidity();
      dirty = true;
    });

    // Attachments dropped onto the form join those picked with the file input.
    const chosen = composeForm.querySelector("ul.chosen");
    composeForm.querySelector(".drop-hint").hidden = false;
    function listChosen() {
      chosen.replaceChildren(...Array.from(files.files).map((f) => {
        const li = document.createElement("li");
        li.textContent = f.name + " (" + Math.max(1, Math.round(f.size / 1024)) + " KiB)";
        return li;
      }));
      chosen.hidden = !files.files.length;
    }
    files.addEventListener("change", listChosen);
    composeForm.addEventListener("dragover", (e) => {
      if (!e.dataTransfer.types.includes("Files")) return;
      e.preventDefault();
      composeForm.classList.add("dropping");
    });
    composeForm.addEventListener("dragleave", (e) => {
      if (!composeForm.contains(e.relatedTarget)) composeForm.classList.remove("dropping");
    });
    composeForm.addEventListener("drop", (e) => {
      if (!e.dataTransfer.files.length) return;
      e.preventDefault();
      composeForm.classList.remove("dropping");
      const merged = new DataTransfer();
      [...files.files, ...e.dataTransfer.files].forEach((f) => merged.items.add(f));
      files.files = merged.files;
      files.dispatchEvent(new Event("change"));
    });

    // Sending with files goes through XMLHttpRequest, the one API that reports upload progress.
    const progress = composeForm.querySelector("progress.upload");
    const progressText = composeForm.querySelector(".upload-text");
    function sendWithProgress(submitter) {
      const data = new FormData(composeForm);
      data.set("action", submitter ? submitter.value : "send");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", composeForm.getAttribute("action"));  // .action is the buttons named "action"
      xhr.setRequestHeader("X-Requested-With", "fetch");
      progress.hidden = false;
      xhr.upload.addEventListener("progress", (ev) => {
        if (!ev.lengthComputable) return;
        progress.max = ev.total;
        progress.value = ev.loaded;
        progressText.textContent = Math.floor((100 * ev.loaded) / ev.total) + " %";
      });
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = {}; }
        if (answer.location) { window.location.href = answer.location; return; }
        // Refused before anything was kept (signed out, security check): the page and its text stay.
        failed(answer.error || xhr.responseText.slice(0, 200));
      });
      xhr.addEventListener("error", () => failed(""));
      xhr.send(data);
    }
    function failed(reason) {
      submitting = uploading = false;
      progress.hidden = true;
      progressText.textContent = progress.getAttribute("aria-label") + ": ✖ " + reason;
    }

    // Drafts saved automatically: a few seconds after the last change, and when leaving the page.
    const status = composeForm.querySelector(".saved");
    let dirty = false;
    let saving = null;
    composeForm.addEventListener("input", () => { dirty = true; });
    async function save() {
      if (!dirty || saving || uploading || !files.checkValidity()) return saving;
      dirty = false;
      sync();
      const data = new FormData(composeForm);
      data.set("action", "draft");
      saving = fetch("/compose", {
        method: "POST",
        body: data,
        headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
      }).then(async (res) => {
        if (res.status === 401 || res.status === 403) { clearInterval(timer); return; }  // signed out: stop trying
        if (!res.ok) { dirty = true; return; }
        const saved = await res.json();
        composeForm.querySelector("input[name=draft]").value = saved.draft;
        // The draft now holds every attachment (uploaded, kept, forwarded): offer them as kept ones.
        const kept = composeForm.querySelector("fieldset.kept");
        kept.querySelectorAll("label").forEach((l) => l.remove());
        saved.kept.forEach(([number, name]) => {
          const label = document.createElement("label");
          label.className = "check";
          const box = document.createElement("input");
          box.type = "checkbox"; box.name = "keep"; box.value = number; box.checked = true;
          label.append(box, " " + name);
          kept.append(label);
        });
        kept.hidden = !saved.kept.length;
        composeForm.querySelector("input[name=forward]").value = "";
        composeForm.querySelector("input[name=carried]").value = "";
        const forwarded = composeForm.querySelector(".forwarded");
        if (forwarded) forwarded.remove();
        files.value = "";
        listChosen();
        const now = new Date();
        status.textContent = (status.dataset.saved || "%s").replace("%s", now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      }).catch(() => { dirty = true; }).finally(() => { saving = null; });
      return saving;
    }
    const timer = setInterval(save, 5000);
    let submitting = false;
    let uploading = false;
    composeForm.addEventListener("submit", async (e) => {
      sync();
      const submitter = e.submitter;
      const withProgress = files.files.length > 0 && (!submitter || submitter.value === "send");
      if (uploading) { e.preventDefault(); return; }
      if (submitting || (!saving && !withProgress)) { submitting = true; return; }
      e.preventDefault();
      // A draft being saved is waited for, so the send names (and removes) the newest draft.
      if (saving) { await saving; sync(); }
      submitting = true;
      if (withProgress && files.files.length) { uploading = true; sendWithProgress(submitter); }
      else composeForm.requestSubmit(submitter);
    });
    window.addEventListener("pagehide", () => {
      if (!dirty || submitting) return;
      sync();
      const data = new FormData(composeForm);
      data.set("action", "draft");
      fetch("/compose", { method: "POST", body: data, keepalive: true, headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf } });
    });
  }

  // Live unread counts over Server-Sent Events.
  if (csrf && window.EventSource) {
    const base = body.dataset.baseTitle || document.title;
    const live = document.querySelector(".live");
    let firstInbox = null;
    // A folder's first page also asks for its new messages, as rows to insert at the top.
    const list = document.querySelector("table.messages[data-live-box]");
    const query = list ? "?box=" + encodeURIComponent(list.dataset.liveBox) + "&after=" + encodeURIComponent(list.dataset.after) : "";
    const source = new EventSource("/events" + query);
    source.addEventListener("rows", (ev) => {
      if (!list) return;
      const data = JSON.parse(ev.data);
      const holder = document.createElement("tbody");
      holder.innerHTML = data.html;  // rendered by our own templates, escaped there
      const tbody = list.tBodies[0];
      const shown = new Set(Array.from(tbody.querySelectorAll('input[name="m"]')).map((c) => c.value));
      const fresh = Array.from(holder.rows).filter((row) => {
        const c = row.querySelector('input[name="m"]');
        return c && !shown.has(c.value);
      });
      fresh.forEach((row) => row.classList.add("arrived"));
      tbody.prepend(...fresh);
      if (focused >= 0) focused += fresh.length;
      const empty = document.querySelector("p.empty");
      if (empty && fresh.length) empty.hidden = true;
    });
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
