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

    func text(_ value: String) -> [UInt8] { [0x8C, UInt8(value.utf8.count)] + Array(value.utf8) }

    /// `numpy.dtype(code, False, True)` with BUILD of `(3, order, None, None, None, -1, -1, 0)`.
    func dtype(_ code: String, order: String) -> [UInt8] {
        global("numpy", "dtype") + text(code) + [0x89, 0x88, 0x87, 0x52]
            + [0x28, 0x4B, 3] + text(order) + [0x4E, 0x4E, 0x4E, 0x4B, 0, 0x4B, 0, 0x4B, 0, 0x74, 0x62]
    }

    /// `numpy._core.multiarray.scalar(dtype, _codecs.encode(latin1 text of bytes, 'latin1'))`.
    func scalar(_ code: String, order: String = "<", bytes: [UInt8]) -> [UInt8] {
        let latin1 = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        return global("numpy._core.multiarray", "scalar") + dtype(code, order: order)
            + global("_codecs", "encode") + [0x58]
            + withUnsafeBytes(of: UInt32(latin1.utf8.count).littleEndian, Array.init)
            + Array(latin1.utf8) + text("latin1") + [0x86, 0x52, 0x86, 0x52]
    }

    @Test(
        "numpy scalars become numbers, decoded by their dtype and byte order",
        arguments: [
            (
                "f8", "<", withUnsafeBytes(of: Double(0.625).bitPattern.littleEndian, Array.init),
                JSONValue.number(0.625)
            ),
            ("f4", "<", withUnsafeBytes(of: Float(-0.75).bitPattern.littleEndian, Array.init), .number(-0.75)),
            ("f2", "<", [0x00, 0x3C], .number(1)),
            ("i8", "<", withUnsafeBytes(of: Int64(-3).littleEndian, Array.init), .number(-3)),
            ("i4", ">", [0xFF, 0xFF, 0xFF, 0xFE], .number(-2)),
            ("u1", "|", [200], .number(200)),
            ("b1", "|", [1], .bool(true)),
        ])
    func numpyScalar(code: String, order: String, bytes: [UInt8], expected: JSONValue) throws {
        var unpickler = RestrictedUnpickler(pickle(scalar(code, order: order, bytes: bytes)))
        let value = try unpickler.load()
        #expect(JSONValue(value) == expected)
    }

    @Test("torch.device becomes its string")
    func torchDevice() throws {
        var unpickler = RestrictedUnpickler(pickle(global("torch", "device") + text("cuda") + [0x4B, 1, 0x86, 0x52]))
        #expect(JSONValue(try unpickler.load()) == .string("cuda:1"))
    }

    /// `GLOBAL module name, (), NEWOBJ, {'training': False}, BUILD`.
    func object(_ module: String, _ name: String) -> [UInt8] {
        global(module, name) + [0x29, 0x81, 0x7D] + text("training") + [0x89, 0x73, 0x62]
    }

    @Test("__torch__ classes are placeholders in TorchScript archives only")
    func torchScriptClasses() throws {
        let bytes = pickle(object("__torch__.torch.nn.modules.conv", "Conv2d"))
        var script = RestrictedUnpickler(bytes, dialect: .torchScript)
        guard case .object(let placeholder) = try script.load() else {
            Issue.record("not an object placeholder")
            return
        }
        #expect(placeholder.className == "__torch__.torch.nn.modules.conv.Conv2d")
        #expect(JSONValue(placeholder.state) == .object(["training": .bool(false)]))
        var plain = RestrictedUnpickler(bytes)
        #expect {
            _ = try plain.load()
        } throws: { ($0 as! FormatError).message.contains("__torch__.torch.nn.modules.conv.Conv2d") }
        // In TorchScript archives, other classes are still refused at once.
        var other = RestrictedUnpickler(pickle(object("__main__", "UNet")), dialect: .torchScript)
        #expect { _ = try other.load() } throws: { ($0 as! FormatError).message.contains("__main__.UNet") }
    }

    @Test("a module tree may instantiate any class, but calling one is refused by name")
    func moduleTreeCalls() throws {
        let bytes = pickle(object("__main__", "UNet"))
        #expect(RestrictedUnpickler.startsWithObject(bytes))
        #expect(!RestrictedUnpickler.startsWithObject(pickle([0x7D])))
        var tree = RestrictedUnpickler(bytes, dialect: .moduleTree)
        guard case .object = try tree.load() else {
            Issue.record("not an object placeholder")
            return
        }
        let call = global("posix", "system") + text("touch /tmp/x") + [0x85, 0x52]
        var hostile = RestrictedUnpickler(pickle(call), dialect: .moduleTree)
        #expect {
            _ = try hostile.load()
        } throws: { error in
            let error = error as! FormatError
            return error.kind == .refused && error.message.contains("posix.system")
                && error.message.contains("nothing from the file was executed")
        }
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
