import { registerParity } from "./_parity.ts";

registerParity("reference", "reference backend");
