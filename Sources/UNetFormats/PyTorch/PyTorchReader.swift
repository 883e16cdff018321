import UNetCheckpoint

/// Reads the state dict of a PyTorch `torch.save` zip checkpoint with ``RestrictedUnpickler``:
/// tensors rebuilt from their storages (sizes, offsets and strides checked against the storage),
/// other entries kept as data, nothing executed.
enum PyTorchReader {
    /// Keys under which training scripts commonly nest the model's state dict.
    static let wrapperKeys = ["state_dict", "model_state_dict", "model", "net", "network", "weights", "params"]

    /// - Parameter mapping: the file mapped: float tensors that own a whole stored entry then use
    ///   its pages in place instead of copies.
    static func read(_ path: String, mapping: FileMapping? = nil) throws(FormatError) -> SourceTensors {
        let archive = try ZipReader(path: path)
        guard let picklePath = archive.entryNames.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) else {
            throw FormatError(.malformed, file: path, "a zip without data.pkl is not a PyTorch checkpoint")
        }
        let prefix = String(picklePath.dropLast("data.pkl".count))
        if let order = try? archive.read(prefix + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
            throw FormatError(.unsupported, file: path, "the checkpoint was saved big-endian")
        }
        var unpickler = RestrictedUnpickler(try archive.read(picklePath))
        let root: PickleValue
        do {
            root = try unpickler.load()
        } catch {
            throw error.attributed(to: path)
        }
        var result = SourceTensors()
        let stateDict = try findStateDict(root, path: path, result: &result)
        for (keyValue, value) in stateDict.entries {
            guard case .string(let key) = keyValue else {
                result.skipped.append("a non-string key (\(keyValue.kindName))")
                continue
            }
            switch value {
            case .tensor(let reference):
                if reference.storage.dtype == .int64, reference.shape.isEmpty {
                    let values: [Int64] = try gather(reference, from: archive, prefix: prefix, key: key)
                    result.integers.append((key, values[0]))
                } else if let dtype = DType(reference.storage.dtype) {
                    result.tensors.append(
                        (
                            key,
                            try tensor(
                                reference, dtype: dtype, archive: archive, prefix: prefix, key: key, mapping: mapping)
                        ))
                } else {
                    result.skipped.append("\(key): a \(reference.storage.dtype.rawValue) tensor is not a weight")
                }
            default:
                if let json = JSONValue(value) {
                    result.extras[key] = json
                } else {
                    result.skipped.append("\(key): a \(value.kindName) entry")
                }
            }
        }
        return result
    }

    /// The dict of tensors: the root itself, or a dict under a common wrapper key.
    private static func findStateDict(
        _ root: PickleValue, path: String, result: inout SourceTensors
    ) throws(FormatError) -> PickleDict {
        guard case .dict(let dict) = root else {
            throw FormatError(.unsupported, file: path, "the pickle holds a \(root.kindName), not a state dict")
        }
        func holdsTensors(_ dict: PickleDict) -> Bool {
            dict.entries.contains { if case .tensor = $0.value { true } else { false } }
        }
        if holdsTensors(dict) { return dict }
        for wrapper in wrapperKeys {
            if let entry = dict.entries.first(where: { if case .string(wrapper) = $0.key { true } else { false } }),
                case .dict(let inner) = entry.value, holdsTensors(inner)
            {
                for (key, value) in dict.entries {
                    guard case .string(let name) = key, name != wrapper else { continue }
                    result.skipped.append("\(name): outside the state dict (\(value.kindName))")
                }
                return inner
            }
        }
        throw FormatError(.unsupported, file: path, "the pickle holds no state dict of tensors")
    }

    private static func tensor(
        _ reference: TensorReference, dtype: DType, archive: ZipReader, prefix: String, key: String,
        mapping: FileMapping?
    ) throws(FormatError) -> Tensor {
        let storage = reference.storage
        if let mapping, isContiguous(reference), reference.offset == 0,
            elementCount(reference.shape) == storage.elementCount, storage.dtype.size == dtype.size,
            let elements = try archive.mapped(prefix + "data/" + storage.key, dtype: dtype, in: mapping),
            elements.count == storage.elementCount
        {
            return Tensor(shape: reference.shape, storage: .mapped(elements))
        }
        switch dtype {
        case .float32:
            let values: [Float] = try gather(reference, from: archive, prefix: prefix, key: key)
            return Tensor(shape: reference.shape, values: values)
        case .float16, .bfloat16:
            let bits: [UInt16] = try gather(reference, from: archive, prefix: prefix, key: key)
            return Tensor(shape: reference.shape, storage: dtype == .float16 ? .float16(bits) : .bfloat16(bits))
        }
    }

    /// Reads the storage and copies the tensor's elements out of it in C order, after checking
    /// that the storage holds exactly its declared element count and that every element the
    /// view addresses lies inside it.
    private static func gather<T: BitwiseCopyable>(
        _ reference: TensorReference, from archive: ZipReader, prefix: String, key: String
    ) throws(FormatError) -> [T] {
        let storage = reference.storage
        guard MemoryLayout<T>.stride == storage.dtype.size else {
            throw FormatError(.malformed, file: archive.path, "tensor \(key): unexpected storage type")
        }
        var count = 1
        var lastIndex = reference.offset
        for (size, stride) in zip(reference.shape, reference.strides) {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= 1 << 40 else {
                throw FormatError(.malformed, file: archive.path, "tensor \(key) claims more than 2^40 elements")
            }
            count = product
            if size > 0 { lastIndex += (size - 1) * stride }
        }
        guard count == 0 || lastIndex < storage.elementCount else {
            throw FormatError(
                .malformed, file: archive.path,
                "tensor \(key): its storage offset \(reference.offset), sizes and strides address element \(lastIndex) "
                    + "of a storage of \(storage.elementCount) elements")
        }
        let entry = prefix + "data/" + storage.key
        guard let declared = archive.entries[entry]?.uncompressedSize,
            declared == storage.elementCount * storage.dtype.size
        else {
            throw FormatError(
                .malformed, file: archive.path,
                "tensor \(key): storage \(storage.key) does not hold the \(storage.elementCount) elements it declares")
        }
        let source = try archive.read(entry, as: T.self)
        if isContiguous(reference) {
            // Most tensors own their whole storage: hand it over without a copy.
            if reference.offset == 0 && count == source.count { return source }
            return Array(source[reference.offset..<(reference.offset + count)])
        }
        return stridedCopy(source, offset: reference.offset, shape: reference.shape, strides: reference.strides)
    }

    /// The product of the sizes, or nil when one is negative or the product overflows.
    private static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard size >= 0, !overflow else { return nil }
            count = product
        }
        return count
    }

    private static func isContiguous(_ reference: TensorReference) -> Bool {
        var expected = 1
        for (size, stride) in zip(reference.shape, reference.strides).reversed() where size != 1 {
            if stride != expected { return false }
            expected *= size
        }
        return true
    }
}

extension DType {
    /// The checkpoint dtype of a PyTorch storage type, if it is one.
    init?(_ dtype: PyTorchDType) {
        switch dtype {
        case .float32: self = .float32
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        default: return nil
        }
    }
}

extension JSONValue {
    /// Plain pickle data as JSON (numbers, strings, lists, tuples, string-keyed dicts).
    init?(_ value: PickleValue) {
        switch value {
        case .none: self = .null
        case .bool(let v): self = .bool(v)
        case .int(let v): self = .number(Double(v))
        case .float(let v): self = .number(v)
        case .string(let v): self = .string(v)
        case .tuple(let items):
            guard let array = JSONValue(array: items) else { return nil }
            self = array
        case .list(let list):
            guard let array = JSONValue(array: list.items) else { return nil }
            self = array
        case .dict(let dict):
            var object: [String: JSONValue] = [:]
            for (key, item) in dict.entries {
                guard case .string(let name) = key, let converted = JSONValue(item) else { return nil }
                object[name] = converted
            }
            self = .object(object)
        default: return nil
        }
    }

    private init?(array items: [PickleValue]) {
        let converted = items.compactMap(JSONValue.init)
        guard converted.count == items.count else { return nil }
        self = .array(converted)
    }
}
