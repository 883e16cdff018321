/// Reading JSON metadata (nnU-Net plans, smp's `config.json`, `metadata.nnunet`) field by field.
extension JSONValue {
    /// The field `key` of an object, or nil.
    public subscript(_ key: String) -> JSONValue? {
        if case .object(let fields) = self { fields[key] } else { nil }
    }

    public var objectValue: [String: JSONValue]? { if case .object(let fields) = self { fields } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    public var stringValue: String? { if case .string(let text) = self { text } else { nil } }
    public var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    public var doubleValue: Double? { if case .number(let number) = self { number } else { nil } }
    public var isNull: Bool { self == .null }

    /// A whole number that fits an `Int` comfortably (sizes, counts, strides).
    public var integerValue: Int? {
        guard case .number(let number) = self, number == number.rounded(), abs(number) < 1e9 else { return nil }
        return Int(number)
    }

    /// A list of whole numbers.
    public var integers: [Int]? {
        guard let items = arrayValue else { return nil }
        let values = items.compactMap(\.integerValue)
        return values.count == items.count ? values : nil
    }

    /// A list of whole numbers.
    public init(_ values: [Int]) { self = .array(values.map { .number(Double($0)) }) }
}
