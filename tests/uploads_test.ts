import { assertEquals, assertThrows } from "@std/assert";
import { checkHeader, UploadAssembler, UploadError } from "../server/transports/ws/uploads.ts";

const header = (size: number, mime = "text/plain") => ({
  uploadId: "u1",
  name: "notes.txt",
  mime,
  size,
});

Deno.test("an upload split over several binary frames is reassembled as text", () => {
  const bytes = new TextEncoder().encode("héllo wörld, 你好");
  const assembler = new UploadAssembler(header(bytes.length));
  assertEquals(assembler.push(bytes.slice(0, 5)), undefined);
  assertEquals(assembler.push(bytes.slice(5, 9)), undefined);
  const done = assembler.push(bytes.slice(9));
  assertEquals(done?.text, "héllo wörld, 你好");
  assertEquals(done?.size, bytes.length);
});

Deno.test("bad uploads are refused with specific codes", () => {
  const cases: [() => unknown, string, string][] = [
    [() => checkHeader(header(2_000), 1_000), "upload_too_large", "limit is 1000"],
    [
      () => checkHeader(header(10, "application/x-msdownload"), 1_000),
      "unsupported_media",
      "x-msdownload",
    ],
    [
      () => new UploadAssembler(header(2)).push(new Uint8Array(3)),
      "upload_invalid",
      "announced 2 bytes",
    ],
    [
      () => new UploadAssembler(header(2)).push(new Uint8Array([0xff, 0xfe])),
      "upload_invalid",
      "UTF-8",
    ],
  ];
  for (const [run, code, words] of cases) {
    const error = assertThrows(run, UploadError, words);
    assertEquals((error as UploadError).code, code);
  }
});

Deno.test("an image upload keeps its metadata but no text", () => {
  checkHeader(header(8, "image/png"), 1_000);
  const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  const done = new UploadAssembler(header(8, "image/png")).push(png);
  assertEquals(done, { uploadId: "u1", name: "notes.txt", mime: "image/png", size: 8 });
});
