/// Rebuilds the value of a PyTorch pickle without executing anything.
///
/// It understands the opcodes of protocols 2 to 5 that hold data (numbers, strings, tuples, lists,
/// dicts, memo), and exactly the globals ``PickleGlobal`` lists, each rebuilt as data: tensors and
/// storages, `collections.OrderedDict`, numpy scalars, dtypes and arrays, `torch.device`. Any
/// other global is refused by name at the moment it appears (`posix.system`, `builtins.eval`, …),
/// and so is every opcode that would build or call arbitrary objects. Two dialects relax this for
/// classes that are only instantiated, never called: `__torch__.*` classes in TorchScript archives,
/// and any class of a pickled module tree (`torch.save(model)`); they become ``PickleObject``
/// placeholders, and calling one (REDUCE) is still refused by name. Sizes and counts are bounded.
struct RestrictedUnpickler {
    /// Which classes may appear as placeholders.
    enum Dialect {
        /// State dicts and training dicts: no classes at all.
        case checkpoint
        /// `torch.jit.save` archives: `__torch__.*` classes.
        case torchScript
        /// `torch.save(model)`: any class, plus `set` and `copyreg._reconstructor`.
        case moduleTree
    }

    struct Limits {
        var maximumOpcodes = 50_000_000
        var maximumDepth = 1_000
        var maximumMemo = 10_000_000
        var maximumStack = 10_000_000
    }

    private let bytes: [UInt8]
    /// The offset of the next opcode: after ``load()``, the first byte after the STOP.
    private(set) var position: Int
    /// Every storage the persistent ids named, by key.
    private(set) var storages: [String: StorageReference] = [:]
    private let dialect: Dialect
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private let limits: Limits

    /// - Parameter start: where the pickle begins in `bytes` (legacy files hold several).
    init(_ bytes: [UInt8], from start: Int = 0, dialect: Dialect = .checkpoint, limits: Limits = Limits()) {
        self.bytes = bytes
        self.position = start
        self.dialect = dialect
        self.limits = limits
    }

    /// Whether the pickle's value is an instance of a class built first thing (`GLOBAL`, then
    /// `()` and NEWOBJ): the shape of `torch.save(model)`, read in the module-tree dialect.
    static func startsWithObject(_ bytes: [UInt8]) -> Bool {
        var index = 0
        if bytes.starts(with: [0x80]) { index = 2 }
        if bytes.count > index + 9, bytes[index] == 0x95 { index += 9 }  // FRAME
        guard index < bytes.count, bytes[index] == 0x63,  // GLOBAL "module\nname\n"
            let first = bytes[(index + 1)...].prefix(256).firstIndex(of: 0x0A),
            let second = bytes[(first + 1)...].prefix(256).firstIndex(of: 0x0A)
        else { return false }
        index = second + 1
        let memo: [UInt8: Int] = [0x71: 2, 0x72: 5, 0x94: 1]  // BINPUT, LONG_BINPUT, MEMOIZE
        if index < bytes.count, let width = memo[bytes[index]] { index += width }
        return bytes.count > index + 1 && bytes[index] == 0x29 && bytes[index + 1] == 0x81  // (), NEWOBJ
    }

    /// Runs the pickle to its STOP opcode and returns the value it built.
    mutating func load() throws(FormatError) -> PickleValue {
        var opcodes = 0
        while true {
            opcodes += 1
            guard opcodes <= limits.maximumOpcodes else {
                throw malformed("more than \(limits.maximumOpcodes) opcodes")
            }
            guard stack.count <= limits.maximumStack, marks.count <= limits.maximumDepth else {
                throw malformed("the pickle nests or stacks too deep")
            }
            let opcode = try readByte()
            switch opcode {
            case 0x80:  // PROTO
                let version = try readByte()
                guard version <= 5 else { throw malformed("pickle protocol \(version) is not supported") }
            case 0x95:  // FRAME (protocol 4): an 8-byte length, no effect on meaning
                _ = try readInteger(8)
            case 0x2E:  // STOP
                guard let value = stack.popLast() else { throw malformed("STOP with an empty stack") }
                return value
            case 0x28: marks.append(stack.count)  // MARK
            case 0x4E: stack.append(.none)  // NONE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4B: stack.append(.int(Int64(try readInteger(1))))  // BININT1
            case 0x4D: stack.append(.int(Int64(try readInteger(2))))  // BININT2
            case 0x4A: stack.append(.int(Int64(Int32(truncatingIfNeeded: try readInteger(4)))))  // BININT
            case 0x8A: stack.append(.int(try readLong(Int(try readByte()))))  // LONG1
            case 0x47: stack.append(.float(Double(bitPattern: try readBigEndian64())))  // BINFLOAT
            case 0x58: stack.append(.string(try readText(Int(try readInteger(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try readText(Int(try readByte()))))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try readText(try readCount(8))))  // BINUNICODE8
            case 0x55: stack.append(.string(try readText(Int(try readByte()))))  // SHORT_BINSTRING
            case 0x54: stack.append(.string(try readText(Int(try readInteger(4)))))  // BINSTRING
            case 0x43: stack.append(.bytes(try readBytes(Int(try readByte()))))  // SHORT_BINBYTES
            case 0x42: stack.append(.bytes(try readBytes(Int(try readInteger(4)))))  // BINBYTES
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x85: stack.append(.tuple(try pop(1)))  // TUPLE1
            case 0x86: stack.append(.tuple(try pop(2)))  // TUPLE2
            case 0x87: stack.append(.tuple(try pop(3)))  // TUPLE3
            case 0x74: stack.append(.tuple(try popToMark()))  // TUPLE
            case 0x5D: stack.append(.list(PickleList()))  // EMPTY_LIST
            case 0x6C:  // LIST
                let list = PickleList()
                list.items = try popToMark()
                stack.append(.list(list))
            case 0x7D: stack.append(.dict(PickleDict()))  // EMPTY_DICT
            case 0x64:  // DICT
                let dict = PickleDict()
                try addPairs(try popToMark(), to: dict)
                stack.append(.dict(dict))
            case 0x61:  // APPEND
                let item = try pop(1)
                try list(atTop: "APPEND").items += item
            case 0x65:  // APPENDS
                let items = try popToMark()
                try list(atTop: "APPENDS").items += items
            case 0x73:  // SETITEM
                let pair = try pop(2)
                try addPairs(pair, to: try dict(atTop: "SETITEM"))
            case 0x75:  // SETITEMS
                let pairs = try popToMark()
                try addPairs(pairs, to: try dict(atTop: "SETITEMS"))
            case 0x71: try memoize(Int(try readByte()))  // BINPUT
            case 0x72: try memoize(Int(try readInteger(4)))  // LONG_BINPUT
            case 0x94: try memoize(memo.count)  // MEMOIZE
            case 0x68: try recall(Int(try readByte()))  // BINGET
            case 0x6A: try recall(Int(try readInteger(4)))  // LONG_BINGET
            case 0x63:  // GLOBAL "module\nname\n"
                let module = try readLine()
                let name = try readLine()
                stack.append(.global(try allowedGlobal(module: module, name: name)))
            case 0x93:  // STACK_GLOBAL
                let parts = try pop(2)
                guard case .string(let module) = parts[0], case .string(let name) = parts[1] else {
                    throw malformed("STACK_GLOBAL needs two strings")
                }
                stack.append(.global(try allowedGlobal(module: module, name: name)))
            case 0x51:  // BINPERSID
                stack.append(try persistentLoad(try pop(1)[0]))
            case 0x52:  // REDUCE
                let parts = try pop(2)
                stack.append(try call(parts[0], arguments: parts[1]))
            case 0x81:  // NEWOBJ: cls.__new__(cls, *args)
                let parts = try pop(2)
                stack.append(try instantiate(parts[0], arguments: parts[1]))
            case 0x92:  // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
                let parts = try pop(3)
                stack.append(try instantiate(parts[0], arguments: parts[1]))
            case 0x62:  // BUILD
                try build(state: try pop(1)[0])
            case 0x30: _ = try pop(1)  // POP
            case 0x31: _ = try popToMark()  // POP_MARK
            case 0x32:  // DUP
                guard let top = stack.last else { throw malformed("DUP with an empty stack") }
                stack.append(top)
            default:
                throw refused("pickle opcode 0x\(String(opcode, radix: 16)) is not allowed in a state dict")
            }
        }
    }

    // MARK: - Globals and calls

    private func allowedGlobal(module: String, name: String) throws(FormatError) -> PickleGlobal {
        if let global = PickleGlobal(module: module, name: name) { return global }
        switch dialect {
        case .checkpoint: break
        case .torchScript:
            if module == "__torch__" || module.hasPrefix("__torch__.") {
                return .placeholderClass(module: module, name: name)
            }
        case .moduleTree:
            return PickleGlobal(moduleTreeModule: module, name: name) ?? .placeholderClass(module: module, name: name)
        }
        throw refused(
            "the pickle refers to \(module.prefix(80)).\(name.prefix(80)), which a checkpoint never needs; "
                + "nothing from the file was executed")
    }

    /// NEWOBJ of a placeholder class: an object that only holds data.
    private func instantiate(_ cls: PickleValue, arguments: PickleValue) throws(FormatError) -> PickleValue {
        guard case .global(.placeholderClass(let module, let name)) = cls, case .tuple(let args) = arguments else {
            throw refused("NEWOBJ of a \(cls.kindName), which a checkpoint never needs")
        }
        return .object(PickleObject(className: "\(module).\(name)", arguments: args))
    }

    /// BUILD: the state of a placeholder object, a numpy dtype's byte order or a numpy array's
    /// contents; on a dict (an OrderedDict's `_metadata`) it is dropped.
    private mutating func build(state: PickleValue) throws(FormatError) {
        guard let top = stack.last else { throw malformed("BUILD with an empty stack") }
        switch top {
        case .dict: break
        case .object(let object): object.state = state
        case .numpyDType(let dtype):
            // (version, byte order, subarray, names, fields, elsize, alignment, flags)
            guard case .tuple(let fields) = state, fields.count >= 2, case .string(let order) = fields[1] else {
                throw malformed("a numpy dtype's state is not its usual tuple")
            }
            dtype.bigEndian = order == ">"
        case .numpyArray(let array):
            guard case .tuple(let fields) = state, fields.count == 5, case .tuple(let shape) = fields[1],
                case .numpyDType(let dtype) = fields[2], case .bool(let fortran) = fields[3]
            else { throw malformed("a numpy array's state is not its usual tuple") }
            var sizes: [Int] = []
            for size in shape {
                guard case .int(let value) = size, value >= 0, value <= 1 << 32 else {
                    throw malformed("a numpy array's shape is not a list of small integers")
                }
                sizes.append(Int(value))
            }
            array.shape = sizes
            array.dtype = dtype
            array.fortranOrder = fortran
            if case .bytes(let data) = fields[4] { array.data = data }  // an object array's list stays empty
        default:
            throw refused("BUILD on a \(top.kindName), which a checkpoint never needs")
        }
    }

    private func call(_ callable: PickleValue, arguments: PickleValue) throws(FormatError) -> PickleValue {
        guard case .global(let global) = callable, case .tuple(let args) = arguments else {
            throw refused("REDUCE of a \(callable.kindName), which a checkpoint never needs")
        }
        switch global {
        case .orderedDict:
            guard args.isEmpty else { throw malformed("OrderedDict called with arguments") }
            return .dict(PickleDict())
        case .rebuildTensor:
            return .tensor(try rebuildTensor(args))
        case .rebuildParameter:
            guard let data = args.first, case .tensor = data else {
                throw malformed("_rebuild_parameter without a tensor")
            }
            return data
        case .storageType:
            throw refused("a storage type called directly")
        case .latin1Encode:
            guard args.count == 2, case .string(let text) = args[0], case .string("latin1") = args[1] else {
                throw refused("_codecs.encode with arguments other than (text, \"latin1\")")
            }
            var bytes: [UInt8] = []
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw malformed("latin1 text with a character above U+00FF") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)
        case .numpyDType:
            guard let first = args.first, case .string(let code) = first else {
                throw malformed("numpy.dtype without a type code")
            }
            return .numpyDType(NumpyDType(code: code))
        case .numpyScalar:
            guard args.count == 2, case .numpyDType(let dtype) = args[0], case .bytes(let data) = args[1] else {
                throw malformed("a numpy scalar without its dtype and bytes")
            }
            guard let value = dtype.value(of: data[...]) else {
                throw FormatError(
                    .unsupported, file: nil, "a numpy scalar of type \(dtype.code.prefix(16)), which is not a number")
            }
            return value
        case .numpyReconstruct:
            guard let first = args.first, case .global(.numpyNDArray) = first else {
                throw refused("numpy _reconstruct of something other than numpy.ndarray")
            }
            return .numpyArray(NumpyArray())
        case .torchDevice:
            guard let first = args.first, case .string(let type) = first, args.count <= 2 else {
                throw malformed("torch.device without its type")
            }
            if args.count == 2, case .int(let index) = args[1] { return .string("\(type):\(index)") }
            return .string(type)
        case .set:
            guard let first = args.first else { return .list(PickleList()) }
            guard case .list(let items) = first else { throw malformed("set of a \(first.kindName)") }
            let list = PickleList()
            list.items = items.items
            return .list(list)
        case .reconstructor:
            guard args.count == 3, case .global(.objectBase) = args[1] else {
                throw refused("copyreg._reconstructor with a base other than object")
            }
            return try instantiate(args[0], arguments: .tuple([]))
        case .numpyNDArray, .objectBase:
            throw refused("\(global.module).\(global.name) called directly; nothing from the file was executed")
        case .placeholderClass(let module, let name):
            throw refused(
                "the pickle calls \(module.prefix(80)).\(name.prefix(80)), which a checkpoint never needs; "
                    + "nothing from the file was executed")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private func rebuildTensor(_ args: [PickleValue]) throws(FormatError) -> TensorReference {
        guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
            case .tuple(let sizes) = args[2], case .tuple(let strides) = args[3]
        else { throw malformed("_rebuild_tensor_v2 with unexpected arguments") }
        func integers(_ values: [PickleValue]) throws(FormatError) -> [Int] {
            var result: [Int] = []
            for value in values {
                guard case .int(let v) = value, v >= 0, v <= Int64(Int32.max) * 64 else {
                    throw malformed("a tensor size or stride is not a small non-negative integer")
                }
                result.append(Int(v))
            }
            return result
        }
        let shape = try integers(sizes)
        let stride = try integers(strides)
        guard shape.count == stride.count, shape.count <= 8, offset >= 0 else {
            throw malformed("a tensor's size, stride and offset do not fit together")
        }
        return TensorReference(storage: storage, offset: Int(offset), shape: shape, strides: stride)
    }

    /// `('storage', storage_type, key, location, numel)`, and in legacy files a sixth item, the
    /// view metadata (None).
    private mutating func persistentLoad(_ pid: PickleValue) throws(FormatError) -> PickleValue {
        guard case .tuple(let parts) = pid, parts.count == 5 || parts.count == 6, case .string("storage") = parts[0],
            case .global(.storageType(let dtype)) = parts[1], case .string(let key) = parts[2],
            case .int(let count) = parts[4], count >= 0, count <= Int64(1) << 40
        else { throw malformed("a persistent id that is not a storage reference") }
        if parts.count == 6, case .none = parts[5] {
        } else if parts.count == 6 {
            throw FormatError(.unsupported, file: nil, "a legacy storage view, which PyTorch stopped writing in 0.4")
        }
        guard !key.isEmpty, key.count <= 64, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else { throw malformed("a storage key that is not a plain name") }
        let storage = StorageReference(dtype: dtype, key: key, elementCount: Int(count))
        if let known = storages[key], known != storage {
            throw malformed("storage \(key) is named with two different types or sizes")
        }
        storages[key] = storage
        return .storage(storage)
    }

    // MARK: - Stack and memo

    private mutating func pop(_ count: Int) throws(FormatError) -> [PickleValue] {
        let floor = marks.last ?? 0
        guard stack.count - count >= floor else { throw malformed("an opcode needs more values than the stack holds") }
        let values = Array(stack.suffix(count))
        stack.removeLast(count)
        return values
    }

    private mutating func popToMark() throws(FormatError) -> [PickleValue] {
        guard let mark = marks.popLast() else { throw malformed("no MARK for an opcode that needs one") }
        let values = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return values
    }

    private func list(atTop opcode: String) throws(FormatError) -> PickleList {
        guard let top = stack.last, case .list(let list) = top else { throw malformed("\(opcode) without a list") }
        return list
    }

    private func dict(atTop opcode: String) throws(FormatError) -> PickleDict {
        guard let top = stack.last, case .dict(let dict) = top else { throw malformed("\(opcode) without a dict") }
        return dict
    }

    private func addPairs(_ values: [PickleValue], to dict: PickleDict) throws(FormatError) {
        guard values.count % 2 == 0 else { throw malformed("a dict with an odd number of keys and values") }
        for index in stride(from: 0, to: values.count, by: 2) {
            dict.entries.append((values[index], values[index + 1]))
        }
    }

    private mutating func memoize(_ index: Int) throws(FormatError) {
        guard let top = stack.last else { throw malformed("memo store with an empty stack") }
        guard index >= 0, index < limits.maximumMemo else { throw malformed("a memo index out of range") }
        memo[index] = top
    }

    private mutating func recall(_ index: Int) throws(FormatError) {
        guard let value = memo[index] else { throw malformed("memo index \(index) read before it was stored") }
        stack.append(value)
    }

    // MARK: - Reading bytes

    private mutating func readByte() throws(FormatError) -> UInt8 {
        guard position < bytes.count else { throw malformed("the pickle ends before its STOP opcode") }
        defer { position += 1 }
        return bytes[position]
    }

    private mutating func readBytes(_ count: Int) throws(FormatError) -> [UInt8] {
        guard count >= 0, count <= bytes.count - position else {
            throw malformed("a length runs past the end of the pickle")
        }
        defer { position += count }
        return Array(bytes[position..<(position + count)])
    }

    /// A little-endian unsigned integer of `width` bytes.
    private mutating func readInteger(_ width: Int) throws(FormatError) -> UInt64 {
        let raw = try readBytes(width)
        return raw.reversed().reduce(0) { ($0 << 8) | UInt64($1) }
    }

    private mutating func readCount(_ width: Int) throws(FormatError) -> Int {
        let value = try readInteger(width)
        guard value <= UInt64(bytes.count - position) else {
            throw malformed("a length runs past the end of the pickle")
        }
        return Int(value)
    }

    private mutating func readBigEndian64() throws(FormatError) -> UInt64 {
        try readBytes(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// LONG1: a little-endian two's-complement integer of up to 8 bytes.
    private mutating func readLong(_ width: Int) throws(FormatError) -> Int64 {
        guard width <= 8 else { throw malformed("an integer wider than 64 bits") }
        let raw = try readBytes(width)
        guard let last = raw.last else { return 0 }
        var value = raw.reversed().reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
        if last & 0x80 != 0, width < 8 { value |= ~UInt64(0) << (8 * width) }
        return Int64(bitPattern: value)
    }

    private mutating func readText(_ count: Int) throws(FormatError) -> String {
        String(decoding: try readBytes(count), as: UTF8.self)
    }

    private mutating func readLine() throws(FormatError) -> String {
        guard let end = bytes[position...].prefix(256).firstIndex(of: 0x0A) else {
            throw malformed("a GLOBAL name without its end of line")
        }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    private func malformed(_ message: String) -> FormatError {
        FormatError(.malformed, file: nil, "the pickle is damaged: \(message) (at byte \(position))")
    }

    private func refused(_ message: String) -> FormatError {
        FormatError(.refused, file: nil, "refused: \(message)")
    }
}
