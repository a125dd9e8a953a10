/* A Web Worker for pages opened from disk.
 *
 * Opened as file://, Chromium refuses `new Worker(url)`, and the search would never start.
 * Material's offline plugin would fetch the "iframe-worker" shim from unpkg.com for this,
 * which an isolated network cannot reach (its name here tells the plugin not to).
 *
 * So, on file:// only, a Worker runs its script in a hidden iframe of the same origin:
 * the page's postMessage() becomes a "message" event in the iframe, and the script's
 * postMessage() a "message" event on the Worker. That is all Material's search worker uses.
 */
(function () {
  "use strict";
  if (location.protocol !== "file:") return;

  class IFrameWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this.pending = [];
      this.frame = document.createElement("iframe");
      this.frame.hidden = true;
      this.frame.setAttribute("aria-hidden", "true");
      (document.body || document.documentElement).appendChild(this.frame);
      const scope = this.frame.contentWindow;
      scope.postMessage = (data) => this.deliver(data);
      scope.importScripts = () => {
        throw new Error("importScripts is not available in a file:// worker");
      };
      const script = scope.document.createElement("script");
      script.src = new URL(url, location.href).href;
      script.onload = () => {
        this.scope = scope;
        this.pending.splice(0).forEach((data) => this.postMessage(data));
      };
      script.onerror = () => this.dispatchEvent(new Event("error"));
      scope.document.head.appendChild(script);
    }

    postMessage(data) {
      if (!this.scope) {
        this.pending.push(data);
        return;
      }
      this.scope.dispatchEvent(new this.scope.MessageEvent("message", { data }));
    }

    deliver(data) {
      const event = new MessageEvent("message", { data });
      if (typeof this.onmessage === "function") this.onmessage(event);
      this.dispatchEvent(event);
    }

    terminate() {
      this.frame.remove();
    }
  }

  window.IFrameWorker = IFrameWorker;
  window.Worker = IFrameWorker;
})();
