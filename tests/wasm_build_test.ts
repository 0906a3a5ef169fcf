/** scripts/build_wasm.ts: the guard against constant splats inside loops (the Binaryen trap). */

import { constantsInLoops } from "../scripts/build_wasm.ts";

const wat = (body: string) => ` (func $m/f (param $0 i32)\n${body}\n )\n`;

Deno.test("constantsInLoops(): flags a non-zero v128.const inside a loop only", () => {
  const inLoop = wat(
    `  loop $l\n   v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000\n   drop\n  end`,
  );
  const zeroInLoop = wat(
    `  loop $l\n   v128.const i32x4 0x00000000 0x00000000 0x00000000 0x00000000\n   drop\n  end`,
  );
  const outside = wat(
    `  v128.const i32x4 0x3f800000 0x3f800000 0x3f800000 0x3f800000\n  drop\n  loop $l\n  end`,
  );
  const nested = wat(
    `  loop $l\n   if\n    v128.const i32x4 0x00000001 0x00000000 0x00000000 0x00000000\n    drop\n   end\n  end`,
  );
  const afterLoop = wat(
    `  loop $l\n  end\n  v128.const i32x4 0x00000001 0x00000000 0x00000000 0x00000000\n  drop`,
  );
  const cases: [string, string, string[]][] = [
    ["in a loop", inLoop, ["$m/f"]],
    ["zero in a loop", zeroInLoop, []],
    ["before a loop", outside, []],
    ["in an if in a loop", nested, ["$m/f"]],
    ["after a loop", afterLoop, []],
  ];
  for (const [what, text, want] of cases) {
    const got = constantsInLoops(text);
    if (got.join() !== want.join()) throw new Error(`${what}: expected [${want}], got [${got}]`);
  }
});
