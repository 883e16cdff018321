import UNetCheckpoint

/// Reading library arguments (nnU-Net plans, smp's `config.json`) as JSON.
extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        if case .object(let fields) = self { fields[key] } else { nil }
    }

    var objectValue: [String: JSONValue]? { if case .object(let fields) = self { fields } else { nil } }
    var arrayValue: [JSONValue]? { if case .array(let items) = self { items } else { nil } }
    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
    var boolValue: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    var doubleValue: Double? { if case .number(let number) = self { number } else { nil } }
    var isNull: Bool { self == .null }

    /// A whole number that fits an `Int` comfortably (sizes, counts, strides).
    var integerValue: Int? {
        guard case .number(let number) = self, number == number.rounded(), abs(number) < 1e9 else { return nil }
        return Int(number)
    }

    /// A list of whole numbers.
    var integers: [Int]? {
        guard let items = arrayValue else { return nil }
        let values = items.compactMap(\.integerValue)
        return values.count == items.count ? values : nil
    }

    init(_ values: [Int]) { self = .array(values.map { .number(Double($0)) }) }
}
