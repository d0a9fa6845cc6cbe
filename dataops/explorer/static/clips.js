// The Clip action of a scene: start the clip, follow its run, then offer its links.
// A control is <div class="clip" data-clip-url=...><button class="clip-button"><span
// class="clip-status"></span></div>: rendered by the server (search tiles) or by
// explorerClips.control (the drive view's scene list). One click handler serves them all.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var FINAL = { Completed: true, Failed: true, Terminated: true, Canceled: true };

  function control(url, denied, sceneId) {
    var holder = document.createElement("div");
    holder.className = "clip";
    holder.dataset.clipUrl = url;
    holder.dataset.scene = sceneId;
    holder.dataset.state = denied ? "denied" : "idle";
    // The reason on the holder too: some browsers show no tooltip over a disabled button.
    if (denied) { holder.title = denied; }
    var button = document.createElement("button");
    button.type = "button";
    button.className = "clip-button";
    button.textContent = "Clip";
    button.title = denied || "Write this scene to one MCAP file";
    button.disabled = Boolean(denied);
    var status = document.createElement("span");
    status.className = "clip-status";
    status.setAttribute("role", "status");
    holder.appendChild(button);
    holder.appendChild(status);
    return holder;
  }

  // The reason of a problem+json answer, else the status line.
  function reason(response) {
    return response.json().then(
      function (problem) { return response.status + " " + (problem.detail || problem.title || ""); },
      function () { return response.status + " " + response.statusText; });
  }

  function show(holder, state, text) {
    holder.dataset.state = state;
    var status = holder.querySelector(".clip-status");
    status.textContent = text;
    status.className = "clip-status" + (state === "error" || state === "failed" ? " error" : "");
  }

  function link(href, text, className) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.className = className;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function done(holder, output) {
    show(holder, "done", "Clip ready: " + output.messages + " messages, " +
      (output.bytes / 1e6).toFixed(1) + " MB. ");
    var status = holder.querySelector(".clip-status");
    var download = link(output.url, "Download clip", "clip-download");
    download.setAttribute("download", "clip.mcap");
    status.appendChild(download);
    status.appendChild(document.createTextNode(" "));
    status.appendChild(link(output.foxglove_url, "Open in Foxglove", "clip-foxglove"));
    holder.querySelector(".clip-button").disabled = false;
  }

  function failed(holder, run) {
    var custom = run.custom_status || {};
    var why = custom.reason || (typeof run.output === "string" ? run.output : run.runtime_status);
    show(holder, "failed", "Clip failed: " + why);
    holder.querySelector(".clip-button").disabled = false;
  }

  function follow(holder, statusUrl) {
    fetch(statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          return reason(response).then(function (text) {
            show(holder, "error", "Could not follow the clip: " + text);
            holder.querySelector(".clip-button").disabled = false;
          });
        }
        return response.json().then(function (run) {
          if (run.runtime_status === "Completed") { done(holder, run.output); return; }
          if (FINAL[run.runtime_status]) { failed(holder, run); return; }
          var stage = run.custom_status && run.custom_status.stage;
          show(holder, "running", "Clipping: " + run.runtime_status + (stage ? " (" + stage + ")" : "") + " ...");
          window.setTimeout(function () { follow(holder, statusUrl); }, POLL_MS);
        });
      })
      .catch(function (error) {
        show(holder, "error", "Could not follow the clip: " + error.message);
        holder.querySelector(".clip-button").disabled = false;
      });
  }

  function start(holder) {
    var button = holder.querySelector(".clip-button");
    button.disabled = true;
    show(holder, "starting", "Starting the clip ...");
    fetch(holder.dataset.clipUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: "{}"
    })
      .then(function (response) {
        if (!response.ok) {
          return reason(response).then(function (text) {
            show(holder, "error", "Could not start the clip: " + text);
            button.disabled = false;
          });
        }
        return response.json().then(function (accepted) {
          holder.dataset.run = accepted.instance_id;
          show(holder, "running", "Clipping ...");
          follow(holder, accepted.status_url);
        });
      })
      .catch(function (error) {
        show(holder, "error", "Could not start the clip: " + error.message);
        button.disabled = false;
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest(".clip-button") : null;
    if (!button || button.disabled) { return; }
    event.preventDefault();
    start(button.closest(".clip"));
  });

  window.explorerClips = { control: control };
})();
