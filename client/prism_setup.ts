/**
 * Tells Prism, before it loads, not to highlight the page by itself nor to
 * listen for worker messages: the markdown renderer calls it by hand.
 * @module
 */
(globalThis as { Prism?: unknown }).Prism = { manual: true, disableWorkerMessageHandler: true };
