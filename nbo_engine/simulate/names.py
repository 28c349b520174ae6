"""Word lists for synthetic identities and notes (no real people)."""

from __future__ import annotations

__all__ = ["CITIES", "FIRST_NAMES", "LAST_NAMES", "STREETS", "STREET_TYPES"]

FIRST_NAMES: tuple[str, ...] = tuple(
    """Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James
    Henry Leo Alfie Joshua Freddie Archie Ethan Isaac Alexander Joseph Edward Samuel
    Max Daniel Arthur Lucas Mohammed Logan Theo Harrison Benjamin Mason Sebastian
    Finley Adam Dylan Zachary Riley Teddy Theodore David Toby Jake Louie Elijah Reggie
    Olivia Amelia Isla Ava Emily Isabella Mia Poppy Ella Lily Evie Grace Sophia Sophie
    Charlotte Freya Daisy Alice Ruby Florence Sienna Jessica Matilda Phoebe Evelyn
    Scarlett Millie Harper Layla Rosie Erin Esme Eva Lucy Imogen Willow Maya Hannah
    Holly Emma Sarah Laura Rachel Helen Claire Karen Susan Margaret Patricia Linda
    Barbara Elizabeth Jennifer Maria Nancy Dorothy Sandra Ashley Kimberly Donna Carol
    Michelle Amanda Melissa Deborah Stephanie Rebecca Sharon Kathleen Amy Angela Anna
    Brenda Pamela Nicole Samantha Katherine Christine Janet Catherine Frances Ann Joyce
    Diane Alan Brian Kevin Gary Timothy Jason Jeffrey Ryan Eric Stephen Andrew Raymond
    Gregory Frank Patrick Peter Paul Mark Donald Steven Kenneth Anthony Christopher
    Matthew Richard Robert Michael John Ian Graham Neil Colin Keith Derek Trevor Roger
    Priya Aisha Fatima Zara Amir Omar Hassan Ravi Sanjay Anil Wei Li Chen Yusuf Ibrahim
    Kofi Ama Chidi Ngozi Tariq Imran Nadia Leila Sofia Mateo Diego Lars Ingrid Piotr
    Katarzyna Marek Agnieszka""".split()
)

LAST_NAMES: tuple[str, ...] = tuple(
    """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts
    Robinson Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke
    Patel Jackson Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker
    Harrison Morgan Allen James Scott Phillips Watson Davis Parker Price Bennett Young
    Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy
    Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson
    Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen
    Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins
    Murray Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews
    Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole
    Atkinson Bradley Spencer Gill Dawson Ball Burton Obrien Watts Rose Booth Perry Ryan
    Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter
    Gregory Carr Lowe Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins
    Harding Porter Robertson Newton Oliver Reed Kennedy Williamson Bird Gardner Shah Dean
    Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns Nicholson Shepherd Ross
    Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates Hodgson
    Robson Curtis Hopkins OConnor Harper Coleman Watkins Moss McCarthy Chambers
    Okafor Mensah Nowak Kowalski Rossi Garcia Martinez Lopez Silva Costa Nguyen Wang
    Zhang Liu Chen Kim Park Tanaka Sato Hansen Larsen Novak Horvat Popescu Ivanova""".split()
)

STREETS: tuple[str, ...] = tuple(
    """High Station Church Victoria Green Manor Park Queens Kings Grange Mill School
    North South West New London York Albert Windsor Alexandra Springfield Highfield
    Broadway Chestnut Oak Elm Beech Cedar Willow Ash Maple Orchard Meadow Riverside
    Bridge Castle Abbey Priory Chapel Market Hill Valley Forest Lake Brook Stanley
    Clarence Cromwell Nelson Wellington Marlborough Sandringham Balmoral Kensington
    Chelsea Richmond Hampton Greenwich Lancaster Warwick Stratford Oxford Cambridge
    Harrow Ealing Kingsway Fairfield Southfield Westfield Brookside Hollybank Ivy
    Laburnum Poplar Sycamore Hawthorn Heather Primrose Bluebell Rosebery Belmont
    Beaumont Clifton Coniston Derwent Grasmere Keswick Thornton Ripley Hazel""".split()
)

STREET_TYPES: tuple[str, ...] = (
    "Street",
    "Road",
    "Avenue",
    "Lane",
    "Close",
    "Drive",
    "Way",
    "Gardens",
    "Crescent",
    "Terrace",
)

CITIES: tuple[tuple[str, str], ...] = (
    ("London", "SW"),
    ("London", "NW"),
    ("London", "SE"),
    ("London", "E"),
    ("Manchester", "M"),
    ("Birmingham", "B"),
    ("Leeds", "LS"),
    ("Glasgow", "G"),
    ("Liverpool", "L"),
    ("Bristol", "BS"),
    ("Sheffield", "S"),
    ("Edinburgh", "EH"),
    ("Cardiff", "CF"),
    ("Leicester", "LE"),
    ("Nottingham", "NG"),
    ("Newcastle", "NE"),
    ("Brighton", "BN"),
    ("Southampton", "SO"),
    ("Reading", "RG"),
    ("Oxford", "OX"),
    ("Cambridge", "CB"),
    ("York", "YO"),
    ("Norwich", "NR"),
    ("Exeter", "EX"),
    ("Belfast", "BT"),
    ("Aberdeen", "AB"),
    ("Coventry", "CV"),
    ("Derby", "DE"),
    ("Plymouth", "PL"),
    ("Bath", "BA"),
)
