/* Search results show a snippet of each matching page: Sphinx's searchtools.js fetches the
 * page's HTML and takes the text of its main element.  That HTML holds the math as TeX source
 * (MathJax typesets it only in a browser tab), so the snippets read "\(\langle W_{i+1}...\)".
 * This wraps Search.htmlToText to replace every math element by an ellipsis first.
 * jupyter-book adds every .js file under _static/ to each page. */
(function () {
  function withoutTex() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.withoutTex) return;
    const toText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const page = new DOMParser().parseFromString(htmlString, "text/html");
      page.querySelectorAll(".math, mjx-container").forEach((el) => el.replaceWith("\u2026"));
      return toText(page.documentElement.outerHTML, anchor);
    };
    Search.withoutTex = true;
  }
  withoutTex();                 // searchtools.js loaded first
  document.addEventListener("DOMContentLoaded", withoutTex);
})();
