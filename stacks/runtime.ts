// Imported first by main.ts, before any library loads. tsx turns Node's source-map support on, and Node then
// decodes the inline source maps of every library it loads (cdktf and the providers ship large ones): about a
// quarter of synth CPU time and 30 MB of memory, measured by bench/synth. Synth problems are reported by
// message and construct path, never by stack position, so the app runs without them.
process.setSourceMapsEnabled(false);
