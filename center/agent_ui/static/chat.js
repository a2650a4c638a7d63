// Customer chat widget. Everything shown is set with textContent: no HTML from the wire.
(() => {
  const $ = (id) => document.getElementById(id);
  const tokenKey = "center.visitor";
  const socket = io("/chat", {
    transports: ["websocket"],
    auth: { token: localStorage.getItem(tokenKey) || undefined },
  });
  const status = (text) => { $("status").textContent = text; };
  const add = (direction, body, who) => {
    const div = document.createElement("div");
    div.className = `msg ${direction}`;
    div.textContent = who ? `${who}: ${body}` : body;
    $("log").appendChild(div);
    $("log").scrollTop = $("log").scrollHeight;
    return div;
  };
  const note = (text) => {
    const div = document.createElement("div");
    div.className = "muted";
    div.textContent = text;
    $("log").appendChild(div);
  };

  socket.on("connect", () => status("connected"));
  socket.on("disconnect", () => status("reconnecting…"));
  socket.on("welcome", (w) => {
    localStorage.setItem(tokenKey, w.token);
    $("log").textContent = "";
    for (const m of w.messages) add(m.direction, m.body, m.direction === "outbound" ? "Agent" : "");
  });
  socket.on("articles", (d) => {
    // Deflection: answers from the help center before an agent is needed.
    const box = $("articles");
    box.textContent = "";
    const head = document.createElement("div");
    head.textContent = "These articles may answer your question:";
    box.appendChild(head);
    for (const a of d.articles) {
      const item = document.createElement("div");
      const link = document.createElement("a");
      link.href = a.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = a.title;
      link.className = "article";
      link.addEventListener("click", () => socket.emit("article_opened", { article_id: a.id }));
      item.appendChild(link);
      if (a.answer) {
        const answer = document.createElement("div");
        answer.className = "muted";
        answer.textContent = a.answer;
        item.appendChild(answer);
      }
      box.appendChild(item);
    }
    const ask = document.createElement("button");
    ask.id = "escalate";
    ask.type = "button";
    ask.textContent = "I still need help: talk to an agent";
    ask.addEventListener("click", () => socket.emit("escalate", {}, () => { box.hidden = true; }));
    box.appendChild(ask);
    box.hidden = false;
  });
  socket.on("queued", (d) => { $("articles").hidden = true; note(`You are number ${d.position} in the queue.`); });
  socket.on("agent_joined", (d) => { note(`${d.agent} joined the chat.`); status("with an agent"); });
  socket.on("message", (m) => { $("typing").textContent = ""; add("outbound", m.body, m.author); });
  let typingTimer;
  socket.on("agent_typing", (d) => {
    $("typing").textContent = `${d.agent} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => { $("typing").textContent = ""; }, 3000);
  });
  socket.on("closed", () => { note("The agent closed this chat. Thank you!"); status("closed"); });
  socket.on("error", (e) => { $("error").textContent = e.error || "something went wrong"; });

  let lastTyping = 0;
  $("text").addEventListener("input", () => {
    const now = Date.now();
    if (now - lastTyping > 2000) { lastTyping = now; socket.emit("typing", {}); }
  });
  $("form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    $("error").textContent = "";
    // Shown at once (so it sits above "you are number 1 in the queue"), confirmed by the
    // acknowledgement, which comes only once the message is stored.
    const line = add("inbound pending", text);
    $("text").value = "";
    socket.emit("message", { text }, (ack) => {
      if (ack && ack.ok) { line.classList.remove("pending"); return; }
      line.classList.replace("pending", "failed");
      $("text").value = text;
      $("error").textContent = (ack && ack.error) || "not sent";
    });
  });
  $("leave").addEventListener("click", () => {
    socket.emit("leave", {}, () => { note("You left the chat."); status("left"); });
  });
})();
