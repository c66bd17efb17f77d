using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PipelineFramework.Abstractions;

namespace PipelineFramework.Rules;

/// <summary>
/// Reads rules from JSON with hard limits, so a hostile or broken document fails fast with an error that names the rule,
/// the JSON path and what to do. Limits: <see cref="MaxDocumentBytes"/>, <see cref="MaxRules"/>, <see cref="MaxDepth"/>
/// and <see cref="MaxNodes"/> per rule, numbers finite and within ±<see cref="MaxMagnitude"/>, strings up to
/// <see cref="MaxStringLength"/> characters. Evaluation is linear in a rule's size, so these also bound its time.
/// </summary>
public static class RuleParser
{
    public const int MaxDocumentBytes = 1 << 20;
    public const int MaxRules = 1000;
    public const int MaxDepth = 12;
    public const int MaxNodes = 200;
    public const double MaxMagnitude = 1e6;
    public const int MaxStringLength = 100;
    const int ReaderMaxDepth = 256;

    static readonly string[] ConditionForms = ["range", "compare", "above", "leftOf", "inside", "within", "present", "absent", "sameColour", "all", "any", "not", "if"];
    static readonly string[] RuleKeys = ["id", "kind", "source", "description", "check"];
    /// <summary>A document's own keys: its rules, and the component classes a model's stored book names.</summary>
    static readonly string[] DocumentKeys = ["rules", "classes"];

    /// <summary>A document <c>{"rules": [...]}</c> or a bare array of rules. <paramref name="defaultSource"/> applies where a rule names none.</summary>
    public static IReadOnlyList<Rule> ParseDocument(string json, RuleSource defaultSource, IReadOnlyCollection<string>? classes = null)
    {
        if (Encoding.UTF8.GetByteCount(json) > MaxDocumentBytes)
            throw new RuleException($"The rules document is larger than {MaxDocumentBytes / 1024} KiB; split it or remove rules.");
        if (json.Trim().TrimStart('\uFEFF').Length == 0)
            throw new RuleException("The rules document is empty; write {\"rules\": [ { \"id\": ..., \"kind\": ..., \"check\": ... } ]}");
        JsonNode? root;
        try
        {
            // Our own depth limit (per rule) is far lower; this one only keeps the reader itself bounded.
            if (JsonDuplicateKeys.FirstDuplicate(json, ReaderMaxDepth) is { } duplicate)
                throw new RuleException($"{duplicate}: given twice; keep one of the two values");
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = ReaderMaxDepth, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            var hint = JsonReaderError.IsTooDeep(e) ? $"; rules nest at most {MaxDepth} levels" : NonFiniteHint(json, e);
            throw new RuleException($"The rules document is not valid JSON{JsonReaderError.Where(e)}: {JsonReaderError.Reason(e).TrimEnd('.')}{hint}");
        }
        // A misspelt "rulez" beside "rules" would otherwise drop its rules without a word.
        if (root is JsonObject top)
            foreach (var key in top.Select(p => p.Key))
                if (!DocumentKeys.Contains(key))
                    throw new RuleException($"$.{Clip(key)}: unknown key{Hint(key, DocumentKeys)}; a rules document has {string.Join(" and ", DocumentKeys)}");
        var array = root switch
        {
            JsonArray a => a,
            JsonObject o when o["rules"] is JsonArray a => a,
            _ => throw new RuleException("$: expected {\"rules\": [ ... ]} or an array of rules"),
        };
        if (array.Count > MaxRules) throw new RuleException($"$.rules: {array.Count} rules; at most {MaxRules}.");
        var rules = new List<Rule>();
        for (int i = 0; i < array.Count; i++)
        {
            var rule = ParseRule(array[i], $"$.rules[{i}]", defaultSource, classes);
            if (rules.Any(r => r.Id == rule.Id)) throw new RuleException($"$.rules[{i}].id: rule '{rule.Id}' appears twice; ids must be unique.");
            rules.Add(rule);
        }
        return rules;
    }

    /// <summary>JSON has no NaN or Infinity, and for them the reader only says "'N' is an invalid start of a value".</summary>
    static string NonFiniteHint(string json, JsonException e)
    {
        if (e.LineNumber is not long line) return "";
        var lines = json.Split('\n');
        if (line >= lines.Length) return "";
        var bytes = Encoding.UTF8.GetBytes(lines[line]);
        int at = (int)Math.Min(e.BytePositionInLine ?? 0, bytes.Length);
        var rest = Encoding.UTF8.GetString(bytes, at, bytes.Length - at).TrimStart('-', '+');
        return rest.StartsWith("NaN", StringComparison.Ordinal) || rest.StartsWith("Infinity", StringComparison.Ordinal)
            ? "; JSON has no NaN or Infinity: write a finite number, or leave a range's bound out for no limit on that side" : "";
    }

    public static Rule ParseRule(JsonNode? node, string path, RuleSource defaultSource, IReadOnlyCollection<string>? classes = null)
    {
        if (node is not JsonObject o) throw new RuleException($"{path}: a rule must be an object with id, kind and check");
        string id = o["id"] is JsonValue idValue && idValue.TryGetValue(out string? s) ? s : throw new RuleException($"{path}.id: every rule needs a string id");
        if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new RuleException($"{path}.id: '{Clip(id)}' is not a valid rule id (1-64 letters, digits, '-', '_', '.')");
        var context = new Context(id, path, classes);
        foreach (var key in o.Select(p => p.Key))
            if (!RuleKeys.Contains(key)) throw context.Error(path, $"unknown key '{Clip(key)}'{Hint(key, RuleKeys)}; a rule has {string.Join(", ", RuleKeys)}");
        var kind = ParseEnum<RuleKind>(o["kind"], path + ".kind", context, null);
        var source = ParseEnum<RuleSource>(o["source"], path + ".source", context, defaultSource);
        string description = o["description"] is JsonNode d ? context.String(d, path + ".description", 500) : "";
        var check = context.Condition(o["check"], path + ".check", 1);
        // The stored text always names the source, so a rule proposed by an LLM stays "llm" after save and load.
        var stored = (JsonObject)o.DeepClone();
        stored["source"] = source.ToString().ToLowerInvariant();
        return new Rule(id, kind, source, description, check, stored.ToJsonString());
    }

    static T ParseEnum<T>(JsonNode? node, string path, Context context, T? fallback) where T : struct, Enum
    {
        var names = Enum.GetNames<T>().Select(n => n.ToLowerInvariant()).ToArray();
        if (node is null) return fallback ?? throw context.Error(path, $"missing; one of {string.Join(", ", names)}");
        string text = context.String(node, path);
        return Enum.TryParse<T>(text, true, out var value) && names.Contains(text.ToLowerInvariant())
            ? value : throw context.Error(path, $"'{Clip(text)}' is not one of {string.Join(", ", names)}{Hint(text, names)}");
    }

    /// <summary>A value quoted in a message: at most 40 characters, control characters written as \uXXXX (a quoted escape
    /// sequence from a proposal must not act on the terminal).</summary>
    internal static string Clip(string s)
    {
        return TerminalText.Escape(s.Length <= 40 ? s : s[..40] + "…");
    }

    internal static string Hint(string given, IEnumerable<string> known)
    {
        if (Spelling.Nearest(given, known) is not { } near || near.Distance > Math.Max(2, near.Name.Length / 3)) return "";
        // 'grеy' with a Cyrillic 'е' prints like 'grey': say which character differs, or the hint reads as nonsense.
        var foreign = given.Where(c => !char.IsAscii(c)).Distinct().Take(3).ToList();
        return foreign.Count == 0 ? $" (did you mean '{near.Name}'?)"
            : $" (did you mean '{near.Name}'? the name holds {string.Join(", ", foreign.Select(c => $"U+{(int)c:X4}"))}, outside ASCII)";
    }


    sealed class Context(string ruleId, string rulePath, IReadOnlyCollection<string>? classes)
    {
        int _nodes;

        public RuleException Error(string path, string message) => new($"rule '{ruleId}' ({path}): {message}");

        void Count(string path, int depth)
        {
            if (depth > MaxDepth) throw Error(path, $"nested deeper than {MaxDepth} levels; split it into several rules");
            if (++_nodes > MaxNodes) throw Error(rulePath, $"more than {MaxNodes} nodes; split it into several rules");
        }

        public string String(JsonNode node, string path, int max = MaxStringLength)
        {
            if (node is not JsonValue v || !v.TryGetValue(out string? s)) throw Error(path, "expected a string");
            if (s.Length > max) throw Error(path, $"a string of {s.Length} characters; at most {max}");
            return s;
        }

        public double Number(JsonNode? node, string path)
        {
            if (node is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) throw Error(path, "expected a number");
            if (v.ToJsonString().Length > 32) throw Error(path, "a number literal longer than 32 characters");
            if (!v.TryGetValue(out double d) || !double.IsFinite(d) || Math.Abs(d) > MaxMagnitude)
                throw Error(path, $"the number {Clip(v.ToJsonString())} is out of range; literals lie within ±{MaxMagnitude:G}");
            return d;
        }

        public string ClassName(JsonNode? node, string path)
        {
            if (node is null) throw Error(path, "missing class name");
            string name = String(node, path);
            if (classes is not null && !classes.Contains(name))
                throw Error(path, $"unknown class '{Clip(name)}'{Hint(name, classes)}; the classes are {string.Join(", ", classes)}");
            return name;
        }

        (string, string) Pair(JsonNode? node, string path)
        {
            if (node is not JsonArray a || a.Count != 2) throw Error(path, "expected two class names, e.g. [\"red\", \"blue\"]");
            return (ClassName(a[0], path + "[0]"), ClassName(a[1], path + "[1]"));
        }

        static JsonObject Form(JsonObject o, IEnumerable<string> forms, out string form, Func<string, RuleException> error)
        {
            var keys = o.Select(p => p.Key).ToList();
            var found = keys.Where(forms.Contains).ToList();
            if (found.Count != 1)
            {
                var unknown = keys.FirstOrDefault(k => !forms.Contains(k));
                throw error(found.Count == 0
                    ? $"unknown {(unknown is null ? "form" : $"key '{Clip(unknown)}'")}{(unknown is null ? "" : Hint(unknown, forms))}; expected one of {string.Join(", ", forms)}"
                    : $"one form per object, found {string.Join(" and ", found)}");
            }
            form = found[0];
            return o;
        }

        void Only(JsonObject o, string path, params string[] allowed)
        {
            foreach (var key in o.Select(p => p.Key))
                if (!allowed.Contains(key)) throw Error(path, $"unknown key '{Clip(key)}'{Hint(key, allowed)}; here: {string.Join(", ", allowed)}");
        }

        public Condition Condition(JsonNode? node, string path, int depth)
        {
            Count(path, depth);
            if (node is not JsonObject o) throw Error(path, $"expected a condition object: one of {string.Join(", ", ConditionForms)}");
            Form(o, ConditionForms, out var form, m => Error(path, m));
            string p = $"{path}.{form}";
            switch (form)
            {
                case "range":
                    Only(o, path, "range", "min", "max");
                    double? min = o["min"] is null ? null : Number(o["min"], path + ".min");
                    double? max = o["max"] is null ? null : Number(o["max"], path + ".max");
                    if (min is null && max is null) throw Error(path, "a range needs min, max or both");
                    if (min > max) throw Error(path, $"min {min} is above max {max}");
                    return new RangeCondition(Value(o["range"], p, depth + 1), min, max);
                case "compare":
                    Only(o, path, "compare", "tolerance");
                    if (o["compare"] is not JsonArray c || c.Count != 3) throw Error(p, "expected [value, operator, value], e.g. [{\"count\": \"red\"}, \"==\", {\"count\": \"blue\"}]");
                    string op = String(c[1]!, p + "[1]");
                    if (!CompareCondition.Ops.Contains(op)) throw Error(p + "[1]", $"unknown operator '{Clip(op)}'; one of {string.Join(" ", CompareCondition.Ops)}");
                    double tolerance = o["tolerance"] is null ? 0 : Number(o["tolerance"], path + ".tolerance");
                    return new CompareCondition(Value(c[0], p + "[0]", depth + 1), op, Value(c[2], p + "[2]", depth + 1), Math.Abs(tolerance));
                case "above" or "leftOf":
                    Only(o, path, form);
                    var (a, b) = Pair(o[form], p);
                    return new RelationCondition(form, a, b);
                case "inside":
                    Only(o, path, form);
                    var (ia, ib) = Pair(o[form], p);
                    return new InsideCondition(ia, ib);
                case "within":
                    Only(o, path, "within", "box");
                    if (o["box"] is not JsonArray box || box.Count != 4) throw Error(path + ".box", "expected [x0, y0, x1, y1] in image fractions");
                    var numbers = box.Select((n, i) => Number(n, $"{path}.box[{i}]")).ToArray();
                    if (numbers[0] > numbers[2] || numbers[1] > numbers[3]) throw Error(path + ".box", "x0 must not exceed x1, nor y0 y1");
                    return new WithinCondition(ClassName(o["within"], p), numbers);
                case "present" or "absent":
                    Only(o, path, form);
                    return new PresenceCondition(ClassName(o[form], p), form == "present");
                case "sameColour":
                    Only(o, path, "sameColour", "tolerance");
                    return new SameColourCondition(ClassName(o["sameColour"], p), o["tolerance"] is null ? 0.1 : Math.Abs(Number(o["tolerance"], path + ".tolerance")));
                case "all" or "any":
                    Only(o, path, form);
                    if (o[form] is not JsonArray items || items.Count == 0) throw Error(p, "expected a non-empty array of conditions");
                    var list = items.Select((item, i) => Condition(item, $"{p}[{i}]", depth + 1)).ToList();
                    return form == "all" ? new AllCondition(list) : new AnyCondition(list);
                case "not":
                    Only(o, path, form);
                    return new NotCondition(Condition(o["not"], p, depth + 1));
                default:
                    Only(o, path, "if", "then", "else");
                    if (o["then"] is null) throw Error(path, "\"if\" needs \"then\"");
                    return new IfCondition(Condition(o["if"], p, depth + 1), Condition(o["then"], path + ".then", depth + 1),
                        o["else"] is null ? null : Condition(o["else"], path + ".else", depth + 1));
            }
        }

        public Value Value(JsonNode? node, string path, int depth)
        {
            Count(path, depth);
            if (node is JsonValue) return new Literal(Number(node, path));
            if (node is not JsonObject o) throw Error(path, "expected a number or a fact such as {\"count\": \"red\"}");
            if (o.ContainsKey("distance"))
            {
                Only(o, path, "distance");
                var (a, b) = Pair(o["distance"], path + ".distance");
                return new Distance(a, b);
            }
            var forms = FactValue.Names.Append("distance").ToArray();
            Form(o, forms, out var fact, m => Error(path, m.Replace("unknown key", "unknown fact")));
            Only(o, path, fact, "component");
            int? component = null;
            if (o["component"] is not null)
            {
                double k = Number(o["component"], path + ".component");
                if (k < 1 || k > 1000 || k != Math.Floor(k)) throw Error(path + ".component", "a component number from 1 (the largest) up");
                if (fact == "count") throw Error(path + ".component", "count is a fact of the whole class");
                component = (int)k - 1;
            }
            return new FactValue(fact, ClassName(o[fact], $"{path}.{fact}"), component);
        }
    }
}
