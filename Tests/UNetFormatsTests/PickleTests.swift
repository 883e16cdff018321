import Foundation
import TestSupport
import Testing
import UNetCheckpoint

@testable import UNetFormats

@Suite("Restricted unpickler")
struct PickleTests {
    /// Protocol 2 bytes: `PROTO 2`, then `body`, then `STOP`.
    func pickle(_ body: [UInt8]) -> [UInt8] { [0x80, 0x02] + body + [0x2E] }
    func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }

    @Test("plain data is rebuilt: dicts, lists, tuples, numbers, strings, memo")
    func plainData() throws {
        // {'a': [1, -2, 3.5, 'x', True, None], 'b': (7,)} with the list memoised and fetched again.
        var body: [UInt8] = [0x7D, 0x28]  // EMPTY_DICT, MARK
        body += [0x8C, 1] + Array("a".utf8)  // SHORT_BINUNICODE 'a'
        body += [0x5D, 0x71, 0x00, 0x28]  // EMPTY_LIST, BINPUT 0, MARK
        body += [0x4B, 1, 0x4A] + [0xFE, 0xFF, 0xFF, 0xFF]  // BININT1 1, BININT -2
        body += [0x47] + withUnsafeBytes(of: Double(3.5).bitPattern.bigEndian, Array.init)  // BINFLOAT
        body += [0x8C, 1] + Array("x".utf8) + [0x88, 0x4E, 0x65]  // 'x', True, None, APPENDS
        body += [0x8C, 1] + Array("b".utf8) + [0x4B, 7, 0x85]  // 'b', (7,)
        body += [0x75]  // SETITEMS
        var unpickler = RestrictedUnpickler(pickle(body))
        let value = try unpickler.load()
        guard case .dict(let dict) = value else {
            Issue.record("not a dict")
            return
        }
        let json = JSONValue(value)
        #expect(dict.entries.count == 2)
        #expect(
            json
                == .object([
                    "a": .array([.number(1), .number(-2), .number(3.5), .string("x"), .bool(true), .null]),
                    "b": .array([.number(7)]),
                ]))
    }

    @Test(
        "globals outside a state dict are refused by name, whatever wraps them",
        arguments: [
            ("posix", "system"), ("builtins", "eval"), ("subprocess", "Popen"), ("os", "system"),
            ("torch", "load"), ("collections", "defaultdict"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
        ])
    func refusedGlobals(module: String, name: String) throws {
        // {'w': [GLOBAL module name, ('touch /tmp/x',), REDUCE]} — the call never happens.
        var body: [UInt8] = [0x7D, 0x8C, 1] + Array("w".utf8) + [0x5D]
        body += global(module, name) + [0x8C, 12] + Array("touch /tmp/x".utf8) + [0x85, 0x52, 0x61, 0x73]
        var unpickler = RestrictedUnpickler(pickle(body))
        #expect {
            _ = try unpickler.load()
        } throws: { error in
            let error = error as! FormatError
            return error.kind == .refused && error.message.contains("\(module).\(name)")
                && error.message.contains("nothing from the file was executed")
        }
    }

    @Test("opcodes that build arbitrary objects are refused")
    func refusedOpcodes() {
        for opcode: UInt8 in [
            0x69 /* INST */, 0x6F /* OBJ */, 0x81 /* NEWOBJ */, 0x92 /* NEWOBJ_EX */, 0x50 /* PERSID */,
        ] {
            var unpickler = RestrictedUnpickler(pickle([opcode]))
            #expect(throws: FormatError.self) { _ = try unpickler.load() }
        }
    }

    @Test(
        "damaged pickles give errors, never crashes",
        arguments: [
            [UInt8]([0x80, 0x02]),  // no STOP
            [0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F],  // a string longer than the pickle
            [0x80, 0x02, 0x68, 0x05, 0x2E],  // memo read before it was stored
            [0x80, 0x02, 0x65, 0x2E],  // APPENDS without a MARK
            [0x80, 0x02, 0x73, 0x2E],  // SETITEM on an empty stack
            [0x80, 0x09, 0x2E],  // unknown protocol
        ])
    func damaged(bytes: [UInt8]) {
        var unpickler = RestrictedUnpickler(bytes)
        #expect(throws: FormatError.self) { _ = try unpickler.load() }
    }

    @Test("the opcode count is bounded")
    func boundedOpcodes() {
        let body = [UInt8](repeating: 0x4E, count: 2000) + [UInt8](repeating: 0x30, count: 1999)  // NONE…, POP…
        var limits = RestrictedUnpickler.Limits()
        limits.maximumOpcodes = 1000
        var unpickler = RestrictedUnpickler(pickle(body), limits: limits)
        #expect { _ = try unpickler.load() } throws: { ($0 as! FormatError).message.contains("opcodes") }
    }
}

@Suite("safetensors headers")
struct SafetensorsHeaderTests {
    /// A file with `header` (padded as writers do) and `data`.
    func file(_ header: String, data: [UInt8], in directory: TemporaryDirectory) throws -> String {
        let bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian, Array.init) + Array(header.utf8) + data
        let path = directory.file("t.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("a valid header is read, metadata kept")
    func valid() throws {
        let directory = try TemporaryDirectory()
        let path = try file(
            #"{"__metadata__":{"mask_values":"[0, 255]"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            data: [Float(1.5), -2].withUnsafeBytes { Array($0) }, in: directory)
        let source = try Safetensors.read(path)
        #expect(source.tensor("w") == Tensor(shape: [2], values: [1.5, -2]))
        #expect(source.extras["mask_values"] == .array([.number(0), .number(255)]))
    }

    @Test(
        "broken headers are refused with the reason",
        arguments: [
            (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 12, "follow the last tensor"),
            (#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 4, "past the end"),
            (#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12 bytes"),
            (#"{"w":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}}"#, 8, "unknown dtype"),
            (
                #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                8, "overlaps"
            ),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8, "gap"),
            (#"{"w":"#, 0, "not a JSON object"),
            (
                #"{"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]}}"#, 8,
                "impossibly large"
            ),
        ])
    func refused(header: String, dataSize: Int, reason: String) throws {
        let directory = try TemporaryDirectory()
        let path = try file(header, data: [UInt8](repeating: 0, count: dataSize), in: directory)
        #expect {
            _ = try Safetensors.read(path)
        } throws: { error in
            let error = error as! FormatError
            return error.kind == .malformed && error.message.contains(reason)
        }
    }

    @Test("a header length past the file or the 100 MB cap is refused before reading it")
    func hugeHeader() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("h.safetensors")
        try Data(withUnsafeBytes(of: UInt64(1 << 40).littleEndian, Array.init) + Array("{}".utf8))
            .write(to: URL(fileURLWithPath: path))
        #expect { _ = try Safetensors.read(path) } throws: { ($0 as! FormatError).message.contains("100 MB") }
    }
}
