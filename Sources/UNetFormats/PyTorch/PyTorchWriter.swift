import Foundation
import UNetCheckpoint

/// Writes a state dict as `torch.save` does (a zip with `data.pkl` and one storage per tensor),
/// using only what `torch.load(weights_only=True)` accepts: an OrderedDict of tensors rebuilt by
/// `torch._utils._rebuild_tensor_v2` from typed storages, plus plain lists and numbers.
enum PyTorchWriter {
    /// A value of the state dict.
    enum Value {
        case tensor(Tensor)
        case int64Scalar(Int64)
        case json(JSONValue)
        /// A dict of its own (a training checkpoint's `network_weights`), in this order.
        case dict([(key: String, value: Value)])
    }

    static func write(_ entries: [(key: String, value: Value)], to path: String) throws {
        var pickle = PickleEncoder()
        var storages: [(name: String, bytes: Data)] = []
        func emit(_ entries: [(key: String, value: Value)]) throws {
            pickle.global("collections", "OrderedDict")
            pickle.emptyTupleReduce()
            guard !entries.isEmpty else { return }
            pickle.mark()
            for (key, value) in entries {
                pickle.string(key)
                switch value {
                case .tensor(let tensor):
                    let storage = ["float32": "FloatStorage", "float16": "HalfStorage", "bfloat16": "BFloat16Storage"][
                        tensor.dtype.rawValue]!
                    pickle.tensor(storage: storage, key: String(storages.count), shape: tensor.shape)
                    storages.append((String(storages.count), tensor.withUnsafeBytes { Data($0) }))
                case .int64Scalar(let value):
                    pickle.tensor(storage: "LongStorage", key: String(storages.count), shape: [])
                    storages.append((String(storages.count), withUnsafeBytes(of: value.littleEndian) { Data($0) }))
                case .json(let value):
                    try pickle.plain(value)
                case .dict(let inner):
                    try emit(inner)
                }
            }
            pickle.opcode(0x75)  // SETITEMS
        }
        try emit(entries)
        pickle.opcode(0x2E)  // STOP
        let folder = "archive/"
        try OutputFile.write(to: path) { output in
            var zip = StoredZipWriter(output: output)
            try pickle.bytes.withUnsafeBytes { try zip.add(folder + "data.pkl", bytes: $0) }
            try zip.add(folder + ".format_version", text: "1")
            try zip.add(folder + ".storage_alignment", text: "64")
            try zip.add(folder + "byteorder", text: "little")
            for (name, bytes) in storages {
                try bytes.withUnsafeBytes { try zip.add(folder + "data/" + name, bytes: $0) }
            }
            try zip.add(folder + "version", text: "3\n")
            try zip.finish()
        }
    }
}

/// Emits pickle protocol 2 opcodes.
struct PickleEncoder {
    private(set) var bytes: [UInt8] = [0x80, 0x02]  // PROTO 2

    mutating func opcode(_ code: UInt8) { bytes.append(code) }
    mutating func mark() { opcode(0x28) }

    mutating func global(_ module: String, _ name: String) {
        opcode(0x63)
        bytes += Array("\(module)\n\(name)\n".utf8)
    }

    mutating func emptyTupleReduce() {
        opcode(0x29)  // EMPTY_TUPLE
        opcode(0x52)  // REDUCE
    }

    mutating func string(_ text: String) {
        let utf8 = Array(text.utf8)
        opcode(0x58)  // BINUNICODE
        append32(UInt32(utf8.count))
        bytes += utf8
    }

    mutating func int(_ value: Int64) {
        if let small = Int32(exactly: value) {
            opcode(0x4A)  // BININT
            append32(UInt32(bitPattern: small))
        } else {
            opcode(0x8A)  // LONG1
            bytes.append(8)
            bytes += withUnsafeBytes(of: value.littleEndian, Array.init)
        }
    }

    mutating func tuple(_ values: [Int]) {
        mark()
        for value in values { int(Int64(value)) }
        opcode(0x74)  // TUPLE
    }

    /// `_rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict())`.
    mutating func tensor(storage: String, key: String, shape: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        // The persistent id: ('storage', storage type, key, 'cpu', element count).
        mark()
        string("storage")
        global("torch", storage)
        string(key)
        string("cpu")
        int(Int64(shape.reduce(1, *)))
        opcode(0x74)  // TUPLE
        opcode(0x51)  // BINPERSID
        int(0)
        tuple(shape)
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
            strides[axis] = strides[axis + 1] * shape[axis + 1]
        }
        tuple(strides)
        opcode(0x89)  // NEWFALSE
        global("collections", "OrderedDict")
        emptyTupleReduce()
        opcode(0x74)  // TUPLE
        opcode(0x52)  // REDUCE
    }

    /// Plain data: numbers, strings, booleans, None, lists and string-keyed dicts of them.
    mutating func plain(_ value: JSONValue) throws {
        switch value {
        case .null: opcode(0x4E)
        case .bool(let flag): opcode(flag ? 0x88 : 0x89)
        case .number(let number):
            if number.rounded() == number, let integer = Int64(exactly: number) {
                int(integer)
            } else {
                opcode(0x47)  // BINFLOAT, big-endian
                bytes += withUnsafeBytes(of: number.bitPattern.bigEndian, Array.init)
            }
        case .string(let text): string(text)
        case .array(let items):
            opcode(0x5D)  // EMPTY_LIST
            if !items.isEmpty {
                mark()
                for item in items { try plain(item) }
                opcode(0x65)  // APPENDS
            }
        case .object(let fields):
            opcode(0x7D)  // EMPTY_DICT
            guard !fields.isEmpty else { return }
            mark()
            for (key, item) in fields.sorted(by: { $0.key < $1.key }) {
                string(key)
                try plain(item)
            }
            opcode(0x75)  // SETITEMS
        }
    }

    private mutating func append32(_ value: UInt32) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
}
