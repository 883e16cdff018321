import UNetCheckpoint

/// Reads the weights of a PyTorch file with ``RestrictedUnpickler``: a `torch.save` zip (state
/// dict, training dict, Lightning or nnU-Net checkpoint, pickled module), a TorchScript archive,
/// or the legacy pre-1.6 format. Tensors are rebuilt from their storages (sizes, offsets and
/// strides checked against the storage), other entries kept as data, nothing executed.
enum PyTorchReader {
    /// - Parameters:
    ///   - weights: the copy to take when the file holds raw and EMA weights (default raw).
    ///   - mapping: the file mapped: float tensors that own a whole stored entry then use
    ///     its pages in place instead of copies.
    static func read(
        _ path: String, weights: WeightsChoice? = nil, mapping: FileMapping? = nil
    ) throws(FormatError) -> SourceTensors {
        let (root, dialect, storages) = try load(path)
        var legacy = false
        if case .legacy = storages { legacy = true }
        let resolved = try PyTorchContainer.resolve(
            root, dialect: dialect, legacy: legacy, choice: weights, file: path)
        var result = SourceTensors()
        result.container = resolved.info
        result.containerEntries = resolved.entries
        result.skipped = resolved.skipped
        for (keyValue, value) in resolved.stateDict {
            guard case .string(let key) = keyValue else {
                result.skipped.append("a non-string key (\(keyValue.kindName))")
                continue
            }
            switch value {
            case .tensor(let reference):
                guard let name = resolved.names[key] else { continue }  // the other copy of the weights
                if reference.storage.dtype == .int64, reference.shape.isEmpty {
                    let values: [Int64] = try gather(reference, from: storages, key: key)
                    result.integers.append((name, values[0]))
                } else if let dtype = DType(reference.storage.dtype) {
                    result.tensors.append(
                        (name, try tensor(reference, dtype: dtype, storages: storages, key: key, mapping: mapping)))
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

    /// The pickle's value, the dialect it was read in, and where its storages are.
    private static func load(_ path: String) throws(FormatError) -> (
        PickleValue, RestrictedUnpickler.Dialect, PyTorchStorages
    ) {
        if LegacyPyTorch.isLegacy(try InputFile(path: path).prefix(LegacyPyTorch.magic.count)) {
            return try LegacyPyTorch.load(path)
        }
        let archive = try ZipReader(path: path)
        guard let picklePath = archive.entryNames.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }) else {
            throw FormatError(.malformed, file: path, "a zip without data.pkl is not a PyTorch checkpoint")
        }
        let prefix = String(picklePath.dropLast("data.pkl".count))
        if let order = try? archive.read(prefix + "byteorder"), String(decoding: order, as: UTF8.self) != "little" {
            throw FormatError(.unsupported, file: path, "the checkpoint was saved big-endian")
        }
        // TorchScript archives hold constants.pkl and code/ (never read) beside data.pkl.
        let torchScript =
            archive.entries[prefix + "constants.pkl"] != nil
            || archive.entryNames.contains { $0.hasPrefix(prefix + "code/") }
        let bytes = try archive.read(picklePath)
        let dialect: RestrictedUnpickler.Dialect =
            torchScript ? .torchScript : RestrictedUnpickler.startsWithObject(bytes) ? .moduleTree : .checkpoint
        var unpickler = RestrictedUnpickler(bytes, dialect: dialect)
        do {
            return (try unpickler.load(), dialect, .zip(archive, prefix: prefix))
        } catch {
            throw error.attributed(to: path)
        }
    }

    private static func tensor(
        _ reference: TensorReference, dtype: DType, storages: PyTorchStorages, key: String, mapping: FileMapping?
    ) throws(FormatError) -> Tensor {
        let storage = reference.storage
        if let mapping, isContiguous(reference), reference.offset == 0,
            elementCount(reference.shape) == storage.elementCount, storage.dtype.size == dtype.size,
            let elements = try storages.mapped(storage, dtype: dtype, in: mapping),
            elements.count == storage.elementCount
        {
            return Tensor(shape: reference.shape, storage: .mapped(elements))
        }
        switch dtype {
        case .float32:
            let values: [Float] = try gather(reference, from: storages, key: key)
            return Tensor(shape: reference.shape, values: values)
        case .float16, .bfloat16:
            let bits: [UInt16] = try gather(reference, from: storages, key: key)
            return Tensor(shape: reference.shape, storage: dtype == .float16 ? .float16(bits) : .bfloat16(bits))
        }
    }

    /// Reads the storage and copies the tensor's elements out of it in C order, after checking
    /// that the storage holds exactly its declared element count and that every element the
    /// view addresses lies inside it.
    private static func gather<T: BitwiseCopyable>(
        _ reference: TensorReference, from storages: PyTorchStorages, key: String
    ) throws(FormatError) -> [T] {
        let storage = reference.storage
        guard MemoryLayout<T>.stride == storage.dtype.size else {
            throw FormatError(.malformed, file: storages.path, "tensor \(key): unexpected storage type")
        }
        var count = 1
        var lastIndex = reference.offset
        for (size, stride) in zip(reference.shape, reference.strides) {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= 1 << 40 else {
                throw FormatError(.malformed, file: storages.path, "tensor \(key) claims more than 2^40 elements")
            }
            count = product
            if size > 0 { lastIndex += (size - 1) * stride }
        }
        guard count == 0 || lastIndex < storage.elementCount else {
            throw FormatError(
                .malformed, file: storages.path,
                "tensor \(key): its storage offset \(reference.offset), sizes and strides address element \(lastIndex) "
                    + "of a storage of \(storage.elementCount) elements")
        }
        guard let declared = storages.byteCount(of: storage), declared == storage.elementCount * storage.dtype.size
        else {
            throw FormatError(
                .malformed, file: storages.path,
                "tensor \(key): storage \(storage.key) does not hold the \(storage.elementCount) elements it declares")
        }
        let source = try storages.read(storage, as: T.self)
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
