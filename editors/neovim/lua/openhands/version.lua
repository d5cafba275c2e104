--- The plugin's version: the server release `:OpenHands install` fetches. scripts/release checks it equal to
--- Cargo.toml's.
return "0.1.0"
