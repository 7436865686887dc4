"""Value pools of the generated data: tricky text on purpose (unicode, commas, quotes, newlines,
emoji), so that every layer downstream meets it."""

from __future__ import annotations

FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
               "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
               "Charles", "Karen", "José", "Zoë", "Jürgen", "François", "Søren", "Ana María", "Renée",
               "Łukasz", "伟", "芳", "Chloé", "Mohammed", "Priya", "Olu", "Siobhán", "Ånge", "Nguyễn",
               "D'Arcy", "Anne-Marie", "Björn"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
              "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore",
              "Jackson", "Martin", "O'Brien", "Müller", "Núñez", "王", "李", "Nakamura", "Østergaard",
              "Smith, Jr.", 'Rivera "Rocky"', "van der Berg", "Dupont-Lefèvre", "Kowalczyk", "Ödegaard",
              "Şahin", "Papadopoulos", "Ivanova", "Nguyen", "MacDonald", "Fitzgerald 🍀", "Singh"]
ASCII_FIRST = {n: (n.encode("ascii", "ignore").decode() or "user").replace(" ", "").replace("'", "").lower()
               for n in [*FIRST_NAMES, "Integration"]}
ASCII_LAST = {n: (n.encode("ascii", "ignore").decode().split(",")[0].split('"')[0] or "x")
              .replace(" ", "").replace("'", "").lower() for n in [*LAST_NAMES, "User"]}
TITLES = ["Physician", "Nurse Practitioner", "Office Manager", "VP, Sales", "Director of Operations",
          'Head of "Growth"', "Chief Medical Officer", "Attending Physician", "Résident", "Pharmacist",
          "Practice Administrator", "Chef de Clinique", "主任医师", "CEO & Founder", "Billing Specialist",
          None, None, None]
DEPARTMENTS = ["Cardiology", "Emergency", "Administration", "Billing", "Research & Development", "Pédiatrie",
               "Oncology", None, None, None, None]
CITIES = [("San Francisco", "CA", "US", 37.7749, -122.4194), ("New York", "NY", "US", 40.7128, -74.006),
          ("Chicago", "IL", "US", 41.8781, -87.6298), ("Austin", "TX", "US", 30.2672, -97.7431),
          ("Boston", "MA", "US", 42.3601, -71.0589), ("Montréal", "QC", "CA", 45.5017, -73.5673),
          ("München", "BY", "DE", 48.1351, 11.582), ("São Paulo", "SP", "BR", -23.5505, -46.6333),
          ("上海", "SH", "CN", 31.2304, 121.4737), ("Zürich", "ZH", "CH", 47.3769, 8.5417),
          ("Seattle", "WA", "US", 47.6062, -122.3321), ("Denver", "CO", "US", 39.7392, -104.9903)]
STREETS = ["123 Main St", "1 Market Street\nSuite 300", "742 Evergreen Terrace", "55 Rue de la Paix, Bât. B",
           "Königstraße 12", '10 "Old" Mill Rd', "8 Harbour View,\nUnit 5", "1600 Amphitheatre Pkwy",
           "221B Baker Street", "浦东新区世纪大道100号", "4 Privet Drive", "350 Fifth Avenue, Floor 21"]
ACCOUNT_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Cyberdyne", "Soylent",
                 "Hooli", "Vandelay", "Müller & Söhne", "Clínica São José", "北京医疗", "Smith, Jones & Co",
                 'The "Best" Clinic', "Pied Piper", "Massive Dynamic", "Wonka", "Tyrell", "Aperture"]
ACCOUNT_SUFFIX = ["Health", "Medical Group", "Clinic", "Hospital", "Labs", "Inc.", "LLC", "GmbH", "Partners",
                  "Pharmacy"]
TASK_SUBJECTS = ["Call", "Email", "Send Letter", "Send Quote", "Follow up", "Intro call – re: samples",
                 "Re: your question, again", 'Sent "Q3" brochure', "Lunch 🍱 with team", "Rappel: réunion",
                 "Other", "Demo"]
DESCRIPTIONS = [None, None, None, None, "Left voicemail.", "Discussed pricing, volume discounts, and timeline.",
                'Customer said: "call me next week".', "Line one\nLine two\nLine three",
                "Multi-line, with commas,\nand \"quotes\"\r\nand CRLF too.", "Très bien — à bientôt 👍",
                "客户要求下周回电", "Notes:\n- item 1\n- item 2, with comma", "😀🎉 great meeting"]
EVENT_SUBJECTS = ["Meeting", "Lunch", "Demo", "Site visit", "Conférence annuelle", "Quarterly review, Q4",
                  'Webinar "Best practices"', "Call"]
LOCATIONS = [None, None, "Zoom", "HQ, Room 4", "Café de Flore", "会议室 A", 'Building "B"', "Teams"]
CALL_DISPOSITIONS = [None, None, None, "Left voicemail", "Connected", "No answer", "Wrong number, will retry"]
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Paris", "Asia/Shanghai",
              "Australia/Sydney")
PROFILE_IDS = ["00e5g000001AbCdEAA", "00e5g000001AbCeEAA", "00e5g000001AbCfEAA"]
ROLE_IDS = [None, "00E5g000000RoL1EAA", "00E5g000000RoL2EAA"]
