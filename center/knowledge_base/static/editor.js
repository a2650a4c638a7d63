// Plain DOM + fetch; text is always set with textContent, the preview HTML comes already
// sanitised from the server.
const form = document.getElementById("form");
const say = (t) => { document.getElementById("status").textContent = t; };
let current = null;

async function call(method, url, body) {
  const r = await fetch(url, {method, headers: {"Content-Type": "application/json"},
                              body: body ? JSON.stringify(body) : undefined});
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

async function refresh() {
  const list = document.getElementById("list");
  list.replaceChildren();
  for (const a of await call("GET", "/api/kb/articles")) {
    const li = document.createElement("li");
    li.textContent = a.title;
    if (a.status === "draft") li.className = "draft";
    li.onclick = () => { if (mayDiscard()) load(a.id).catch((err) => say(err.message)); };
    list.append(li);
  }
}

async function load(id) {
  const a = await call("GET", `/api/kb/articles/${id}`);
  current = a;
  for (const k of ["slug", "title", "category", "locale", "answer", "status", "body_md"]) {
    form.elements[k].value = a[k] ?? "";
  }
  form.elements.tags.value = (a.tags || []).join(", ");
  document.getElementById("preview").innerHTML = a.html;
  dirty = false;
  showState();
  const revs = document.getElementById("revisions");
  revs.replaceChildren();
  for (const r of await call("GET", `/api/kb/articles/${id}/revisions`)) {
    const li = document.createElement("li");
    li.textContent = `${r.created_at} — ${r.action} by user ${r.author_id ?? "import"}`;
    revs.append(li);
  }
}

function formFields() {
  const f = Object.fromEntries(new FormData(form));
  delete f.file;
  f.tags = f.tags.split(",").map((t) => t.trim()).filter(Boolean);
  if (!f.answer) f.answer = null;
  return f;
}

// Edits not saved yet: publishing saves them first, so what goes live is what is on screen.
let dirty = false;
form.addEventListener("input", (e) => { if (e.target.type !== "file") dirty = true; });

// Opening another article, starting a new one or leaving the page would drop the edits on
// screen: ask first.
function mayDiscard() {
  return !dirty || confirm("You have unsaved changes. Discard them?");
}
window.addEventListener("beforeunload", (e) => {
  if (!dirty) return;
  e.preventDefault();
  e.returnValue = "";  // (older browsers show the prompt only when this is set)
});

function showState() {
  const publish = document.getElementById("publish");
  const state = document.getElementById("state");
  publish.disabled = !current;
  if (!current) {
    state.textContent = "new, not saved";
    publish.textContent = "Publish";
    return;
  }
  state.textContent = current.status + (dirty ? " (unsaved changes)" : "");
  publish.textContent = current.status === "published" ? "Unpublish" : "Publish";
}
form.addEventListener("input", showState);

async function save() {
  const f = formFields();
  const saved = current
    ? await call("PATCH", `/api/kb/articles/${current.id}`, f)
    : await call("POST", "/api/kb/articles", f);
  dirty = false;
  return saved;
}

async function reload(id) {
  await refresh();
  await load(id);
  showState();
}

form.onsubmit = async (e) => {
  e.preventDefault();
  try {
    const saved = await save();
    // Told only once the form shows what was saved: an edit typed before the reload ended
    // would be overwritten by it.
    await reload(saved.id);
    say(`Saved (${saved.result})`);
  } catch (err) { say(err.message); }
};

document.getElementById("publish").onclick = async () => {
  if (!current) return;
  try {
    let id = current.id;
    if (current.status === "published") {
      // Unpublish: back to draft, keeping any edits on screen.
      const saved = await call("PATCH", `/api/kb/articles/${id}`, {...formFields(), status: "draft"});
      dirty = false;
      id = saved.id;
      await reload(id);
      say("Unpublished: the article is a draft again and hidden from the help center");
    } else {
      if (dirty) id = (await save()).id;
      await call("POST", `/api/kb/articles/${id}/publish`);
      await reload(id);
      say("Published: the article is live in the help center");
    }
  } catch (err) { say(err.message); }
};

// Insert text at the cursor of the Markdown textarea, on a line of its own.
function insertAtCursor(area, text) {
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  if (start > 0 && area.value[start - 1] !== "\n") text = "\n" + text;
  area.value = area.value.slice(0, start) + text + area.value.slice(end);
  area.selectionStart = area.selectionEnd = start + text.length;
  area.focus();
  dirty = true;
  showState();
}

const MAX_ATTACHMENT = 5 * 1024 * 1024;
const fileInput = document.getElementById("file");
fileInput.onchange = async () => {
  const file = fileInput.files[0];
  fileInput.value = "";
  if (!file) return;
  if (!current) { say("Save the article before attaching files"); return; }
  if (file.size > MAX_ATTACHMENT) {
    say(`${file.name} is too large: attachments are limited to 5 MB`);
    return;
  }
  const body = new FormData();
  body.append("file", file, file.name);
  say(`Uploading ${file.name}…`);
  try {
    const r = await fetch(`/api/kb/articles/${current.id}/attachments`, {method: "POST", body});
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || r.statusText);
    // Markdown link text cannot contain brackets; images are shown inline.
    const label = file.name.replace(/[\[\]\\]/g, "");
    const link = file.type.startsWith("image/") ? `![${label}](${data.url})` : `[${label}](${data.url})`;
    insertAtCursor(form.elements.body_md, link);
    say(`Attached ${file.name}: link inserted — save to keep it`);
  } catch (err) { say(`Upload failed: ${err.message}`); }
};

document.getElementById("new").onclick = () => {
  if (!mayDiscard()) return;
  current = null;
  dirty = false;
  form.reset();
  showState();
};
refresh().catch((err) => say(`${err.message} — log in to the console first`));
