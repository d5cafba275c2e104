import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/", "dist/", "node_modules/", "*.vsix"] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      eqeqeq: "error",
      "no-console": "error",
    },
  },
  {
    files: ["scripts/*.js"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable", process: "readonly", __dirname: "readonly" } },
  },
  {
    files: ["media/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: { acquireVsCodeApi: "readonly", document: "readonly", window: "readonly" },
    },
  },
);
