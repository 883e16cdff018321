import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// An SVG document parsed as XML, with the queries the drawing tests need.
public struct ParsedSVG {
    public let document: XMLDocument
    public var root: XMLElement { document.rootElement()! }

    /// Parses `data`; throws when it is not well-formed XML.
    public init(_ data: Data) throws { document = try XMLDocument(data: data, options: []) }

    public init(contentsOf path: String) throws { try self.init(Data(contentsOf: URL(fileURLWithPath: path))) }

    /// Every element (any name) whose `class` attribute is `name`, in document order.
    public func elements(class name: String) throws -> [XMLElement] {
        try document.nodes(forXPath: "//*[@class='\(name)']").compactMap { $0 as? XMLElement }
    }

    /// Every element with the local name `name` (SVG's default namespace ignored).
    public func elements(named name: String) throws -> [XMLElement] {
        try document.nodes(forXPath: "//*[local-name()='\(name)']").compactMap { $0 as? XMLElement }
    }
}

extension XMLElement {
    /// An attribute's value.
    public subscript(attribute name: String) -> String? {
        // Looked up by name: `attribute(forName:)` misses attributes of elements in SVG's namespace
        // in swift-corelibs-foundation.
        (attributes ?? []).first { $0.name == name }?.stringValue
    }

    /// An attribute as an integer.
    public func integer(_ name: String) -> Int? { self[attribute: name].flatMap { Int($0) } }

    /// An attribute as a number.
    public func number(_ name: String) -> Double? { self[attribute: name].flatMap { Double($0) } }

    /// Descendant elements with the local name `name`.
    public func descendants(named name: String) -> [XMLElement] {
        (children ?? []).compactMap { $0 as? XMLElement }.flatMap {
            ($0.localName == name ? [$0] : []) + $0.descendants(named: name)
        }
    }
}
